"""The few Redis commands the lab app needs, spoken in RESP over a socket (stdlib only)."""

import os
import socket


class Redis:
    def __init__(self, host=None, port=6379, timeout=3.0):
        self.address = (host or os.environ.get('REDIS_HOST', 'redis'), port)
        self.timeout = timeout
        self.sock = None
        self.reader = None

    def call(self, *words, timeout=None):
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=self.timeout)
            self.reader = self.sock.makefile('rb')
        self.sock.settimeout(timeout or self.timeout)
        parts = [b'*%d\r\n' % len(words)]
        for word in words:
            data = str(word).encode()
            parts.append(b'$%d\r\n%s\r\n' % (len(data), data))
        try:
            self.sock.sendall(b''.join(parts))
            return self._read()
        except OSError:
            self.close()
            raise

    def _read(self):
        line = self.reader.readline()
        if not line:
            raise ConnectionError('redis closed the connection')
        kind, rest = line[:1], line[1:-2]
        if kind == b'+':
            return rest.decode()
        if kind == b'-':
            raise RuntimeError(rest.decode())
        if kind == b':':
            return int(rest)
        if kind == b'$':
            size = int(rest)
            if size < 0:
                return None
            return self.reader.read(size + 2)[:-2].decode()
        if kind == b'*':
            size = int(rest)
            return None if size < 0 else [self._read() for _item in range(size)]
        raise RuntimeError(f'unexpected reply {line!r}')

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = self.reader = None
