#!/bin/bash
# sensor_bpf.sh again, with the network and file syscalls seen through the fallback hook
# (tp_btf/sys_exit on every syscall), which the sensor takes where the kernel has no per-syscall
# tracepoints: both hooks must report the same events.
exec env SENSOR_SYSCALL_HOOK=sys_exit bash "$(dirname "$0")/sensor_bpf.sh"
