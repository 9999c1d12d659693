// pm2 process file of the Re-Fit AI API (lab copy).
module.exports = {
  apps: [
    {
      name: 'refit-api',
      script: 'dist/server.js',
      cwd: __dirname,
      exec_mode: 'fork',
      autorestart: true,
      max_restarts: 10,
      env: {
        NODE_ENV: 'production',
        PORT: 8080,
        LOG_FILE: '/var/log/app/application.log',
      },
    },
  ],
};
