"""Front ends that turn source text into an ObjectSpec, as `elf` turns objects into one:
`python` compiles restricted Python with llvmlite's LLVM (no clang, no llc), `c`
compiles C with clang from PATH or the ziglang package's clang."""
