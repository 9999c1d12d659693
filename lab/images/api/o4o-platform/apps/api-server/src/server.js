// O4O API server, lab stand-in: health (checks the database), products, login,
// and the auto-recovery switch of the runbook's monitoring stage.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { Pool } = require('pg');

const readSecret = (file) => (file && fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '');
const info = JSON.parse(fs.readFileSync(path.join(__dirname, 'build-info.json'), 'utf8'));
const adminToken = readSecret(process.env.ADMIN_TOKEN_FILE);
const pool = new Pool({
  password: readSecret(process.env.PGPASSWORD_FILE) || undefined,
  max: 5,
  connectionTimeoutMillis: 2000,
  idleTimeoutMillis: 1000,
});
pool.on('error', () => {});
let autoRecovery = false;

const send = (res, code, body) => {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

const readBody = (req) => new Promise((resolve) => {
  let data = '';
  req.on('data', (chunk) => { data += chunk; });
  req.on('end', () => {
    try { resolve(JSON.parse(data || '{}')); } catch (err) { resolve({}); }
  });
});

const routes = {
  'GET /api/health': async (req, res) => {
    try {
      await pool.query('SELECT 1');
      send(res, 200, { status: 'ok', version: info.version, commit: info.commit, database: 'up' });
    } catch (err) {
      send(res, 503, { status: 'error', version: info.version, database: 'down', error: err.message });
    }
  },
  'GET /api/v1/products': async (req, res) => {
    const { rows } = await pool.query(
      'SELECT id, sku, name, price::float AS price, stock FROM products ORDER BY id LIMIT 20');
    const total = await pool.query('SELECT count(*)::int AS n FROM products');
    send(res, 200, { total: total.rows[0].n, items: rows });
  },
  'POST /api/v1/auth/login': async (req, res) => {
    const { email, password } = await readBody(req);
    const { rows } = await pool.query('SELECT id, password_hash FROM users WHERE email = $1', [email || '']);
    const hash = crypto.createHash('sha256').update(`o4o:${password || ''}`).digest('hex');
    if (rows.length !== 1 || rows[0].password_hash !== hash) {
      send(res, 401, { error: 'invalid credentials' });
      return;
    }
    send(res, 200, { userId: rows[0].id, token: crypto.randomBytes(16).toString('hex') });
  },
  'POST /api/v1/auto-recovery/enable': async (req, res) => {
    if (!adminToken || req.headers.authorization !== `Bearer ${adminToken}`) {
      send(res, 401, { error: 'admin token required' });
      return;
    }
    autoRecovery = true;
    send(res, 200, { autoRecovery });
  },
  'GET /api/v1/auto-recovery/status': async (req, res) => send(res, 200, { autoRecovery }),
};

http.createServer(async (req, res) => {
  const route = routes[`${req.method} ${req.url.split('?')[0]}`];
  if (!route) {
    send(res, 404, { error: 'not found' });
    return;
  }
  try {
    await route(req, res);
  } catch (err) {
    send(res, 500, { error: err.message });
  }
}).listen(Number(process.env.PORT || 4000), () => {
  console.log(`api-server ${info.version} listening on ${process.env.PORT || 4000}`);
});
