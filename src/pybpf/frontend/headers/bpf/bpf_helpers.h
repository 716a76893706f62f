/* SPDX-License-Identifier: MIT */
/*
 * bpf/bpf_helpers.h - shipped with pybpf for `pybpf cc` and pybpf.compile_c().
 *
 * The conventions BPF C programs are written in: SEC() places a function or variable
 * in an ELF section, __uint/__type/__array describe a BTF-defined map in ".maps",
 * __always_inline/__noinline control BPF-to-BPF calls, bpf_printk() formats into the
 * trace pipe.  The helper declarations come from bpf_helper_defs.h, generated from
 * pybpf.helper_protos.  Include <linux/types.h> or "vmlinux.h" first.
 */
#ifndef __PYBPF_BPF_HELPERS_H
#define __PYBPF_BPF_HELPERS_H

#include "bpf_helper_defs.h"

/* A map definition member: `int (*type)[BPF_MAP_TYPE_HASH]` carries the number. */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
#define __ulong(name, val) enum { __PYBPF_CONCAT(__pybpf_ulong_, __COUNTER__) = val } name
#define __PYBPF_CONCAT2(a, b) a##b
#define __PYBPF_CONCAT(a, b) __PYBPF_CONCAT2(a, b)

#define SEC(name) __attribute__((section(name), used))

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif
#define __hidden __attribute__((visibility("hidden")))
#define __ksym __attribute__((section(".ksyms")))
#define __kconfig __attribute__((section(".kconfig")))
#define __kptr __attribute__((btf_type_tag("kptr")))
#define __percpu_kptr __attribute__((btf_type_tag("percpu_kptr")))

#ifndef offsetof
#define offsetof(type, member) __builtin_offsetof(type, member)
#endif
#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif
#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif
#define barrier_var(var) asm volatile("" : "+r"(var))

/* Pinning a map by name under the bpffs (libbpf's LIBBPF_PIN_BY_NAME). */
enum pybpf_pin_type {
	PIN_NONE = 0,
	PIN_GLOBAL_NS = 1,
};
#define LIBBPF_PIN_NONE PIN_NONE
#define LIBBPF_PIN_BY_NAME PIN_GLOBAL_NS

/* The format lives in .rodata (read-only, as the helper requires). */
#define bpf_printk(fmt, ...)						\
	({								\
		static const char __pybpf_fmt[] = fmt;			\
		bpf_trace_printk(__pybpf_fmt, sizeof(__pybpf_fmt),	\
				 ##__VA_ARGS__);			\
	})

#endif
