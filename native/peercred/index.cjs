'use strict';
/**
 * peercred(fd) -> { uid, gid, pid } of the peer of a connected UNIX socket (Linux SO_PEERCRED);
 * peercred.trimMemory() -> whether glibc's malloc_trim(0) gave memory back to the OS.
 */
module.exports = require('./build/Release/peercred.node');
