// Answers GET /health with "ok" on $PORT: enough for pm2_app's health wait.
'use strict';
const http = require('http');

http.createServer((req, res) => {
  const healthy = req.method === 'GET' && req.url === '/health';
  res.writeHead(healthy ? 200 : 404, { 'Content-Type': 'text/plain' });
  res.end(healthy ? 'ok\n' : 'not found\n');
}).listen(Number(process.env.PORT || 4100));
