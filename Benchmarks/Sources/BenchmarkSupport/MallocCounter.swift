// Counts heap allocations of the whole process (Swift runtime, Foundation-free
// code, libsodium) to prove the data path allocates nothing per message.
//
// How: the benchmark re-executes itself once with LD_PRELOAD set to a tiny
// interposer (written below, compiled with the toolchain's clang into /tmp)
// that counts malloc, calloc, realloc, aligned_alloc, memalign and
// posix_memalign and forwards to glibc's __libc_* entry points. A Swift
// executable can't interpose malloc by itself: its symbols are not exported to
// the dynamic symbol table unless linked with --export-dynamic.
// If no C compiler is found, allocations are not counted and the table says so
// (a C target in Benchmarks/Package.swift would make this unnecessary).
#if canImport(Glibc)
import Glibc
#endif

public enum MallocCounter {
    static let environmentFlag = "FABRICAUTH_MALLOC_COUNTER"

    static let interposerSource = """
        #include <stddef.h>
        extern void *__libc_malloc(size_t);
        extern void *__libc_calloc(size_t, size_t);
        extern void *__libc_realloc(void *, size_t);
        extern void *__libc_memalign(size_t, size_t);
        static unsigned long long fa_count;
        #define COUNT() __atomic_fetch_add(&fa_count, 1, __ATOMIC_RELAXED)
        unsigned long long fabricauth_malloc_count(void) { return __atomic_load_n(&fa_count, __ATOMIC_RELAXED); }
        void *malloc(size_t n) { COUNT(); return __libc_malloc(n); }
        void *calloc(size_t a, size_t b) { COUNT(); return __libc_calloc(a, b); }
        void *realloc(void *p, size_t n) { COUNT(); return __libc_realloc(p, n); }
        void *aligned_alloc(size_t a, size_t n) { COUNT(); return __libc_memalign(a, n); }
        void *memalign(size_t a, size_t n) { COUNT(); return __libc_memalign(a, n); }
        int posix_memalign(void **out, size_t a, size_t n) {
            COUNT(); void *p = __libc_memalign(a, n); if (!p) return 12; *out = p; return 0;
        }
        """

    typealias CountFunction = @convention(c) () -> UInt64
    nonisolated(unsafe) static var countFunction: CountFunction?

    /// Re-executes the process under the interposer if it isn't already. Returns
    /// only when running under it (or when that is impossible).
    public static func setUp() {
        if getenv(environmentFlag) == nil {
            setenv(environmentFlag, "1", 1)
            // TMPDIR first: inside the Soft-RoCE test bed only it is writable.
            let tmp = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
            let dir = tmp + "/fabricauth-malloc-counter-\(getuid())"
            let c = dir + "/interposer.c", so = dir + "/interposer.so"
            mkdir(dir, 0o700)
            if let f = fopen(c, "w") {
                fputs(interposerSource, f)
                fclose(f)
                for cc in ["/opt/swift/usr/bin/clang", "clang", "cc"] {
                    if system("\(cc) -O2 -shared -fPIC -o \(so) \(c) 2>/dev/null") == 0 {
                        setenv("LD_PRELOAD", so, 1)
                        var args = CommandLine.arguments.map { strdup($0) }
                        args.append(nil)
                        execv("/proc/self/exe", &args)
                        break  // exec failed: fall through
                    }
                }
            }
        }
        if let sym = dlsym(nil /* RTLD_DEFAULT on glibc */, "fabricauth_malloc_count") {
            countFunction = unsafeBitCast(sym, to: CountFunction.self)
        }
    }

    public static var method: String {
        countFunction != nil ? "LD_PRELOAD malloc interposer, calls counted" : "NOT MEASURED (no C compiler for the interposer)"
    }

    /// Proof that the counter can see an allocation: one probe allocation must
    /// move it (otherwise a "0 mallocs per message" would mean nothing).
    public static func selfCheck() -> Bool {
        guard countFunction != nil else { return false }
        let before = read()
        let probe = UnsafeMutableRawPointer.allocate(byteCount: 100, alignment: 8)
        let after = read()
        probe.deallocate()
        return after > before
    }

    /// Allocation calls so far (0 when not measured).
    public static func read() -> UInt64 {
        countFunction?() ?? 0
    }
}
