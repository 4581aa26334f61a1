/* Forced into every compile of a core/ file (-include, core/CMakeLists.txt)
 * so that the build itself keeps core/ pure (docs/ARCHITECTURE.md): a
 * clock read, a file, socket or environment call, or a libuv, hiredis,
 * libcurl or libmicrohttpd header in core/ is a compile error ("attempt
 * to use poisoned ..."). The system headers that declare those functions
 * are included first, so their own declarations pass and later includes
 * of them are no-ops. Pass the time in (now_ms) and do I/O in the layer
 * above. tests/layers.sh checks the same by grep, with a message.
 */
#ifndef PACER_CORE_PURE_H
#define PACER_CORE_PURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* clocks: core takes now_ms as an argument */
#pragma GCC poison time clock clock_gettime gettimeofday timespec_get
#pragma GCC poison pacer_clock_mono_ms pacer_clock_unix_ms uv_now uv_hrtime
/* files and the environment: the caller reads them (common/file.h) */
#pragma GCC poison open openat creat fopen freopen fdopen read pread write
#pragma GCC poison pwrite fread fwrite fgets getline
#pragma GCC poison stat fstat lstat fstatat
#pragma GCC poison getenv secure_getenv setenv unsetenv putenv
/* sockets */
#pragma GCC poison socket connect bind listen accept getaddrinfo
/* types each I/O library's header declares: including one fails */
#pragma GCC poison uv_loop_t redisContext redisAsyncContext CURL CURLM
#pragma GCC poison MHD_Daemon

#endif
