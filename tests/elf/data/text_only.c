// Code only in .text, no SEC(): uBPF's and PREVAIL's build objects. The program is
// .text entered at its first instruction (entry), calling a static sub-program.
typedef unsigned long long __u64;

static __u64 square(__u64 x);

__u64 entry(void *ctx)
{
	volatile __u64 n = 6;  // read at run time: the call stays a call

	return square(n) + n;
}

static __attribute__((noinline)) __u64 square(__u64 x)
{
	return x * x;
}
