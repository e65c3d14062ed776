// smtpsink-testcontainers/jest, one of two workers (side.js)
'use strict';
require('./side')('right', 'left');
