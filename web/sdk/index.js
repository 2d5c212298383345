// Parley's JavaScript SDK. The widget, the chat page and the console use it
// and nothing else to talk to the server.
export { Client, ParleyError, INBOX, readJSON } from './client.js';
export { Conversation } from './conversation.js';
export { Calls, CallSession } from './call.js';
export { Rooms, Room, SIMULCAST } from './room.js';
export { clientId } from './ids.js';
export { visitorSession, widgetConfig } from './visitor.js';
export { consoleAuth } from './console.js';
