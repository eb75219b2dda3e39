/*
 * lsm_probe.bpf.c: the smallest BPF-LSM program, loaded only by enforce_lsm_probe() to learn
 * whether this kernel runs BPF-LSM programs (it needs CONFIG_BPF_LSM, "bpf" in the active LSM
 * list and BPF trampolines). It allows everything and is detached at once.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("lsm/file_open")
int BPF_PROG(lsm_probe_file_open, struct file *file)
{
	return 0;
}
