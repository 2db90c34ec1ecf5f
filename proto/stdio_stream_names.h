// Force-included (CMake: the carp_grpc target) into every translation unit that can see generated
// protobuf code, before anything else.
//
// Nomad's driver.proto names fields stdin, stdout and stderr (ExecTaskResponse,
// ExecTaskStreamingRequest/Response), and protoc turns them into accessors of the same names.
// C lets <stdio.h> define those three names as macros. glibc defines each to itself and FreeBSD to
// a plain identifier (__stdoutp ...; FreeBSD include/stdio.h), so the accessors survive, renamed
// at most. OpenBSD defines them as expressions: (&__sF[1]) in 7.3, ((struct __sFILE *)__stdout)
// in current releases (OpenBSD include/stdio.h 1.55 and 1.57), and every generated accessor
// declaration becomes a syntax error. There this header replaces the macros with constants of
// the same names and values: fprintf(stderr, ...) keeps working, and the generated accessors keep
// the field names (which tests/proto checks against Nomad's, so renaming the fields is no option).
#ifndef CARP_EXEC_PROTO_STDIO_STREAM_NAMES_H_
#define CARP_EXEC_PROTO_STDIO_STREAM_NAMES_H_

#include <stdio.h>

#if defined(__cplusplus) && defined(__OpenBSD__)
// Namespace-scope consts have internal linkage, so no symbol named stdout reaches the linker
// (OpenBSD's libc exports none; lib/libc/Symbols.list). Each is read while the macros still
// exist, so whatever they expand to, the constants keep the value.
namespace carp_exec_stdio {
FILE* const kIn = stdin;
FILE* const kOut = stdout;
FILE* const kErr = stderr;
}  // namespace carp_exec_stdio
#undef stdin
#undef stdout
#undef stderr
FILE* const stdin = carp_exec_stdio::kIn;
FILE* const stdout = carp_exec_stdio::kOut;
FILE* const stderr = carp_exec_stdio::kErr;
#endif

#endif  // CARP_EXEC_PROTO_STDIO_STREAM_NAMES_H_
