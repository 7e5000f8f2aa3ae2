//go:build !linux

package cpu

import "runtime"

func osYield() { runtime.Gosched() }
