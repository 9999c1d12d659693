// pm2 process file of the molecule app.
module.exports = {
  apps: [
    {
      name: 'molecule-app',
      script: 'dist/server.js',
      cwd: __dirname,
      env: { PORT: 4100 },
    },
  ],
};
