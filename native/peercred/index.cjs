'use strict';
/** peercred(fd) -> { uid, gid, pid } of the peer of a connected UNIX socket (Linux SO_PEERCRED). */
module.exports = require('./build/Release/peercred.node');
