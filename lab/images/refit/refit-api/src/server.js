// Re-Fit AI API, lab stand-in for the Spring service of the runbook (R1-R5): the
// actuator health, the recommendations endpoint, Prometheus metrics, and the log file
// the incident check reads. No dependencies: Node's http module only.
// A release's known defects are listed in release.json (the lab's bad releases):
// "health" makes /actuator/health answer 503 DOWN, "api" makes /api/* answer 500.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const readJson = (name, fallback) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, name), 'utf8'));
  } catch (err) {
    return fallback;
  }
};
const info = readJson('build-info.json', { version: 'unknown', commit: 'unknown' });
const release = readJson('release.json', { faults: [] });
const faults = new Set(release.faults || []);
const port = Number(process.env.PORT || 8080);
const logFile = process.env.LOG_FILE || '/var/log/app/application.log';

// One line per event, Spring-like: time, level, pid, logger, message. Appended line by
// line, so that a rotated or removed file is simply created again.
const log = (level, message) => {
  const line = `${new Date().toISOString()} ${level.padEnd(5)} ${process.pid} --- [refit-api] ${message}\n`;
  try {
    fs.appendFileSync(logFile, line);
  } catch (err) {
    process.stderr.write(`cannot write ${logFile}: ${err.message}\n`);
  }
  process.stdout.write(line);
};

// Prometheus metrics: a request counter by path and status, a latency histogram by path.
// /metrics itself is not counted, so that scrapes do not dilute the error ratio.
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const requests = new Map();
const durations = new Map();
const KNOWN_PATHS = new Set(['/actuator/health', '/actuator/info', '/api/recommendations']);
const observe = (pathLabel, status, seconds) => {
  const key = `${pathLabel}\u0000${status}`;
  requests.set(key, (requests.get(key) || 0) + 1);
  let hist = durations.get(pathLabel);
  if (!hist) {
    hist = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
    durations.set(pathLabel, hist);
  }
  BUCKETS.forEach((le, i) => {
    if (seconds <= le) hist.buckets[i] += 1;
  });
  hist.sum += seconds;
  hist.count += 1;
};
const metricsText = () => {
  const out = [
    '# HELP http_requests_total HTTP requests served, by path and status.',
    '# TYPE http_requests_total counter',
  ];
  for (const [key, value] of requests) {
    const [p, status] = key.split('\u0000');
    out.push(`http_requests_total{path="${p}",status="${status}"} ${value}`);
  }
  out.push('# HELP http_request_duration_seconds HTTP request latency, by path.');
  out.push('# TYPE http_request_duration_seconds histogram');
  for (const [p, hist] of durations) {
    BUCKETS.forEach((le, i) => out.push(`http_request_duration_seconds_bucket{path="${p}",le="${le}"} ${hist.buckets[i]}`));
    out.push(`http_request_duration_seconds_bucket{path="${p}",le="+Inf"} ${hist.count}`);
    out.push(`http_request_duration_seconds_sum{path="${p}"} ${hist.sum}`);
    out.push(`http_request_duration_seconds_count{path="${p}"} ${hist.count}`);
  }
  out.push('# HELP refit_build_info The running release.');
  out.push('# TYPE refit_build_info gauge');
  out.push(`refit_build_info{version="${info.version}",commit="${info.commit}"} 1`);
  return `${out.join('\n')}\n`;
};

const send = (res, code, body) => {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

const routes = {
  '/actuator/health': (req, res) => {
    if (faults.has('health')) {
      log('ERROR', `Health check failed: recommendation model not loaded (release ${info.version})`);
      send(res, 503, { status: 'DOWN', components: { model: { status: 'DOWN' } } });
      return;
    }
    send(res, 200, { status: 'UP', components: { model: { status: 'UP' } } });
  },
  '/actuator/info': (req, res) => send(res, 200, { app: { name: 'refit-api', version: info.version, commit: info.commit } }),
  '/api/recommendations': (req, res) => {
    if (faults.has('api')) {
      log('ERROR', `GET /api/recommendations failed: NullPointerException in RecommendationService (release ${info.version})`);
      send(res, 500, { error: 'Internal Server Error' });
      return;
    }
    send(res, 200, {
      items: [
        { id: 1, exercise: 'squat', sets: 3, reps: 10 },
        { id: 2, exercise: 'plank', sets: 3, seconds: 45 },
      ],
    });
  },
};

const server = http.createServer((req, res) => {
  const started = process.hrtime.bigint();
  const url = req.url.split('?')[0];
  if (req.method === 'GET' && url === '/metrics') {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(metricsText());
    return;
  }
  let route = req.method === 'GET' ? routes[url] : undefined;
  if (!route && url.startsWith('/api/') && faults.has('api')) route = routes['/api/recommendations'];
  res.on('finish', () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    observe(KNOWN_PATHS.has(url) ? url : 'other', res.statusCode, seconds);
  });
  if (!route) {
    send(res, 404, { error: 'Not Found' });
    return;
  }
  try {
    route(req, res);
  } catch (err) {
    log('ERROR', `${req.method} ${url} failed: ${err.message}`);
    send(res, 500, { error: 'Internal Server Error' });
  }
});

server.on('error', (err) => {
  log('ERROR', `cannot listen on ${port}: ${err.message}`);
  process.exit(1);
});
server.listen(port, () => {
  log('INFO', `Started refit-api ${info.version} (${info.commit}) on port ${port}`);
  if (faults.size) log('WARN', `release ${info.version} runs with known defects: ${[...faults].join(', ')}`);
});
const stop = (signal) => {
  log('INFO', `Stopping refit-api ${info.version} (${signal})`);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
