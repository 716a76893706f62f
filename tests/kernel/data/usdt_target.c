/* A host program with one USDT probe, pybpf_test:tick(seq, value), written as the
 * SystemTap SDT note by hand (sys/sdt.h's layout) so no systemtap header is needed,
 * with a semaphore the probe is guarded by. Reads commands on stdin:
 *   "go N"  fires the probe N times (if the semaphore is set), prints
 *           "sema=S fired=F"
 *   "quit"  exits. */
#include <stdio.h>
#include <string.h>

unsigned short pybpf_test_tick_semaphore __attribute__((section(".probes"), used));

#define PYBPF_USDT2(provider, name, a1, a2)                                           \
	__asm__ __volatile__(                                                          \
		"990: nop\n"                                                           \
		".pushsection .note.stapsdt,\"?\",\"note\"\n"                          \
		".balign 4\n"                                                          \
		".4byte 992f-991f, 994f-993f, 3\n"                                     \
		"991: .asciz \"stapsdt\"\n"                                            \
		"992: .balign 4\n"                                                     \
		"993: .8byte 990b\n"                                                   \
		".8byte _.stapsdt.base\n"                                              \
		".8byte " #provider "_" #name "_semaphore\n"                           \
		".asciz \"" #provider "\"\n"                                           \
		".asciz \"" #name "\"\n"                                               \
		".asciz \"-8@%0 8@%1\"\n"                                              \
		"994: .balign 4\n"                                                     \
		".popsection\n"                                                        \
		".ifndef _.stapsdt.base\n"                                             \
		".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
		".weak _.stapsdt.base\n"                                               \
		".hidden _.stapsdt.base\n"                                             \
		"_.stapsdt.base: .space 1\n"                                           \
		".size _.stapsdt.base, 1\n"                                            \
		".popsection\n"                                                        \
		".endif\n"                                                             \
		:: "r"(a1), "m"(a2))

int main(void)
{
	char line[64];
	volatile unsigned long value;
	long seq = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		int n = 0, fired = 0;

		if (strncmp(line, "quit", 4) == 0)
			break;
		if (sscanf(line, "go %d", &n) != 1)
			continue;
		for (int i = 0; i < n; i++) {
			seq++;
			value = 1000 + seq;
			if (pybpf_test_tick_semaphore) {
				PYBPF_USDT2(pybpf_test, tick, seq, value);
				fired++;
			}
		}
		printf("sema=%u fired=%d\n", pybpf_test_tick_semaphore, fired);
	}
	return 0;
}
