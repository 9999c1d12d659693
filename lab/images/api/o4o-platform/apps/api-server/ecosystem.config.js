// pm2 process file of the O4O API server (lab copy).
module.exports = {
  apps: [
    {
      name: 'api-server',
      script: 'dist/server.js',
      cwd: __dirname,
      instances: 1,
      autorestart: true,
      max_restarts: 10,
      env: {
        NODE_ENV: 'production',
        PORT: 4000,
        PGHOST: '127.0.0.1',
        PGPORT: 5432,
        PGDATABASE: 'o4o_platform',
        PGUSER: 'o4o',
        PGPASSWORD_FILE: '/home/ubuntu/o4o-platform/apps/api-server/.db-password',
        ADMIN_TOKEN_FILE: '/home/ubuntu/o4o-platform/apps/api-server/.admin-token',
      },
    },
  ],
};
