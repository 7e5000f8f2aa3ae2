package cpu

import "syscall"

// osYield gives the OS thread's CPU to another runnable thread (maybe our
// own caller, on a machine with fewer free cores than workers).
func osYield() { syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
