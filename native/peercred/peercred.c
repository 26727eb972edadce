/* SO_PEERCRED for one file descriptor. Node has no API for it, and no maintained package does
 * only this (the candidates build an FFI runtime), so the privileged applier carries these lines.
 * Also trimMemory(): glibc's malloc_trim(0), which System Manager calls when a burst of requests is
 * over: the TLS connections' memory is freed but stays in malloc's heap otherwise (issue 15). */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <node_api.h>

static napi_value peer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "peercred(fd): fd must be a non-negative integer");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    napi_throw_error(env, "EPEERCRED", strerror(errno));
    return NULL;
  }
  napi_value out, uid, gid, pid;
  napi_create_object(env, &out);
  napi_create_uint32(env, cred.uid, &uid);
  napi_create_uint32(env, cred.gid, &gid);
  napi_create_int32(env, cred.pid, &pid);
  napi_set_named_property(env, out, "uid", uid);
  napi_set_named_property(env, out, "gid", gid);
  napi_set_named_property(env, out, "pid", pid);
  return out;
}

static napi_value trim_memory(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
#ifdef __GLIBC__
  napi_get_boolean(env, malloc_trim(0) == 1, &out);
#else
  napi_get_boolean(env, false, &out);
#endif
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn, trim;
  napi_create_function(env, "peercred", NAPI_AUTO_LENGTH, peer, NULL, &fn);
  napi_create_function(env, "trimMemory", NAPI_AUTO_LENGTH, trim_memory, NULL, &trim);
  napi_set_named_property(env, fn, "trimMemory", trim);
  return fn;
}
