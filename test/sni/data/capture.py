# SPDX-License-Identifier: MIT
# Capture the first ClientHello a client sends: listen once on 127.0.0.1:PORT,
# read until one whole handshake message has arrived (it may span records),
# write exactly those records to PATH and close. Usage: capture.py PORT PATH
import socket, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port)); s.listen(1)
c, _ = s.accept(); c.settimeout(3)
buf = b''
def complete(b):
    off, hs = 0, b''
    while len(b) - off >= 5:
        n = int.from_bytes(b[off+3:off+5], 'big')
        if len(b) - off - 5 < n: return False
        hs += b[off+5:off+5+n]; off += 5 + n
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], 'big'): return off
    return False
while True:
    d = c.recv(65536)
    if not d: break
    buf += d
    end = complete(buf)
    if end: buf = buf[:end]; break
open(path, 'wb').write(buf); c.close(); print(path, len(buf))
