//go:build !amd64 || purego

package cpu

import "testing"

func forceAVX2(b *testing.B) {}
