// Demo stand-in for a chat/ticket bridge and for PagerDuty: logs every
// Alertmanager notification it receives and answers like PagerDuty (202).
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    let summary = body;
    try {
      const j = JSON.parse(body);
      summary = j.event_action
        ? `pagerduty ${j.event_action}: ${j.payload?.summary}`
        : `webhook ${j.status}: ${(j.alerts ?? []).map((a) => a.labels.alertname).join(', ')}`;
    } catch {}
    console.log(new Date().toISOString(), req.method, req.url, summary);
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end('{"status":"success","message":"Event processed"}');
  });
}).listen(port, () => console.log(`webhook-sink listening on :${port}`));
