; Verify the IPv4 header checksum of the packet in memory (r1 = data, r2 = length).
; r0 = 0 when the header is intact, the folded sum otherwise, -1 when it is no IPv4 header.
    if r2 < 20 goto bad          ; too short for an IPv4 header
    r3 = *(u8 *)(r1 +0)          ; version and IHL
    r7 = r3
    r7 >>= 4
    if r7 != 4 goto bad          ; not IPv4
    r3 &= 0xf
    r3 <<= 2                     ; header length in bytes
    if r3 < 20 goto bad
    if r3 > r2 goto bad
    r0 = 0
    r4 = 0                       ; offset into the header
loop:
    r5 = r1
    r5 += r4
    r6 = *(u16 *)(r5 +0)
    r6 = be16 r6                 ; network to host order
    r0 += r6
    r4 += 2
    if r4 < r3 goto loop
    ; fold the carries twice: at most 30 words sum below 2^21, so after one fold the
    ; sum is below 0xffff + 0x1f and after the second it fits 16 bits (a fixed number
    ; of folds, not a loop, so that the kernel's verifier accepts the program too)
    r6 = r0
    r6 >>= 16
    r0 &= 0xffff
    r0 += r6
    r6 = r0
    r6 >>= 16
    r0 &= 0xffff
    r0 += r6
    r0 ^= 0xffff
    exit
bad:
    r0 = -1
    exit
