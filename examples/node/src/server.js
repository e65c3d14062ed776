// node src/server.js: the app on $PORT (3000), mail to $SMTP_HOST:$SMTP_PORT.
'use strict';
const { createApp } = require('./app');

const port = Number(process.env.PORT || 3000);
createApp().listen(port, () => console.log(`listening on :${port}`));
