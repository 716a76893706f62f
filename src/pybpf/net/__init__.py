"""pybpf.net: the network model the VM's maps and program types share.

A network namespace as data (`netns`: devices, addresses, routes, neighbours,
sockets), the devices (`netdev`), the kernel's socket lookup (`sockets`), the FIB
lookup of bpf_fib_lookup (`route`) and the Internet checksum arithmetic (`csum`).
Nothing here knows the VM: devmap/cpumap (pybpf.maps) and the skb/xdp program types
(pybpf.progtypes) both import it, it imports neither.
"""
