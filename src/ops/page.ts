/**
 * The coordinator's live page: one self-contained HTML document. It reads
 * snapshots from `/events` (server-sent events), lays the system out with ELK
 * (served from this process at `/elk.js`) whenever its shape changes, and
 * updates the counts in place on every snapshot. The graph's connections to
 * roles not discovered yet are drawn too, grey and dashed, to those roles'
 * "not discovered" nodes. The drawing is scaled down to the window's width
 * (never up), so that the page never scrolls sideways.
 */

/** The page, as served at `/`. */
export const SYSTEM_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>MsgFlo system</title>
<style>
  body { margin: 0; font: 13px system-ui, sans-serif; color: #1d2433; background: #f6f7f9; }
  header { display: flex; flex-wrap: wrap; gap: 0.4em 1.5em; align-items: baseline; padding: 8px 16px; background: #1d2433; color: #fff; }
  header #broker { overflow-wrap: anywhere; min-width: 0; }
  header h1 { font-size: 15px; margin: 0; }
  header .dim { color: #aab3c5; }
  #status.down { color: #ff8080; }
  #legend { margin-left: auto; color: #aab3c5; }
  #legend .pending { color: #c3c9d5; }
  #legend .pubsub { color: #6ab0ff; } #legend .rr { color: #f0b35a; } #legend .dead { color: #ff8080; }
  svg { display: block; }
  #view { max-width: 100%; height: auto; }
  .role rect.box { fill: #fff; stroke: #3b4a66; stroke-width: 1.2; rx: 6; }
  .role.extra rect.box { stroke-dasharray: 2 2; stroke: #b9770e; }
  .role.missing rect.box { fill: #eceef2; stroke-dasharray: 4 3; stroke: #9aa3b5; }
  .role .name { font-weight: 600; font-size: 14px; }
  .role .component, .role .who { fill: #5b6478; font-size: 11px; }
  .role .counts { font-size: 12px; }
  .role .counts .bad { fill: #c0392b; font-weight: 600; }
  .port rect { fill: #3b4a66; }
  .port text { font-size: 10px; fill: #3b4a66; }
  .dlq rect.box { fill: #fff1f1; stroke: #c0392b; rx: 3; }
  .dlq text { font-size: 11px; fill: #7a1f16; }
  .edge path { fill: none; stroke-width: 1.6; }
  .edge.pubsub path { stroke: #2a7de1; }
  .edge.roundrobin path { stroke: #d98a12; stroke-dasharray: 6 3; }
  .edge.dead path { stroke: #c0392b; stroke-dasharray: 2 3; }
  .edge.pending path { stroke: #9aa3b5; stroke-dasharray: 4 3; }
  .role.missing .port rect { fill: #9aa3b5; }
  .role.missing .port text { fill: #7a8397; }
  .edge text { font-size: 11px; fill: #1d2433; paint-order: stroke; stroke: #f6f7f9; stroke-width: 3px; }
  .edge.active text { font-weight: 600; }
  #empty { padding: 40px; color: #5b6478; }
</style>
</head>
<body>
<header>
  <h1>MsgFlo system</h1>
  <span class="dim" id="broker"></span>
  <span id="status">connecting</span>
  <span id="legend"><span class="pubsub">&#9472; pubsub</span> &nbsp; <span class="rr">&#9476; round robin</span> &nbsp; <span class="dead">&#8943; dead letters</span> &nbsp; <span class="pending">&#9476; not discovered yet</span></span>
</header>
<div id="empty" hidden>No participant discovered yet.</div>
<svg id="view" xmlns="http://www.w3.org/2000/svg"></svg>
<script src="/elk.js"></script>
<script>
(function () {
  'use strict';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var elk = new ELK();
  var svg = document.getElementById('view');
  var shape = null;
  var latest = null;
  var laying = false;

  function el(name, attrs, parent, text) {
    var node = document.createElementNS(SVGNS, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  // A role's ports, laid out by ELK (ids are portKey()s), inports on the west side labelled to their right.
  function drawPorts(c, parent) {
    (c.ports || []).forEach(function (p) {
      var parts = p.id.split('\\u0000');
      var pg = el('g', { class: 'port', 'data-port': parts[1] + ':' + parts[2] }, parent);
      el('rect', { x: String(p.x), y: String(p.y), width: '8', height: '8' }, pg);
      var west = parts[1] === 'in';
      el('text', { x: String(west ? p.x + 11 : p.x - 3), y: String(p.y + 8), 'text-anchor': west ? 'start' : 'end' }, pg, parts[2]);
    });
  }
  function count(value) { return value === null || value === undefined ? '\\u2013' : String(value); }
  function portKey(role, dir, port) { return role + '\\u0000' + dir + '\\u0000' + port; }
  function textWidth(text, px) { return Math.ceil(text.length * px * 0.62); }

  function graphOf(s) {
    var children = [];
    var edges = [];
    s.roles.forEach(function (r) {
      var ports = [];
      r.inports.forEach(function (p, i) {
        ports.push({ id: portKey(r.role, 'in', p.id), width: 8, height: 8, layoutOptions: { 'elk.port.side': 'WEST', 'elk.port.index': String(i) }, labels: [{ text: p.id }] });
      });
      r.outports.forEach(function (p, i) {
        ports.push({ id: portKey(r.role, 'out', p.id), width: 8, height: 8, layoutOptions: { 'elk.port.side': 'EAST', 'elk.port.index': String(i) }, labels: [{ text: p.id }] });
      });
      var label = Math.max(textWidth(r.role, 14), textWidth(r.component, 11), 190);
      var height = Math.max(74, 18 * Math.max(r.inports.length, r.outports.length) + 20);
      children.push({ id: 'role:' + r.role, width: label + 70, height: height, ports: ports, layoutOptions: { 'elk.portConstraints': 'FIXED_ORDER' } });
    });
    var discovered = {};
    s.roles.forEach(function (r) {
      discovered[r.role] = { in: r.inports.map(function (p) { return p.id; }), out: r.outports.map(function (p) { return p.id; }) };
    });
    var missingPorts = {};
    s.missing.forEach(function (role) { missingPorts[role] = { in: [], out: [] }; });
    (s.pending || []).forEach(function (e) {
      [[e.src, 'out'], [e.tgt, 'in']].forEach(function (end) {
        var ports = missingPorts[end[0].role];
        if (ports && ports[end[1]].indexOf(end[0].port) < 0) ports[end[1]].push(end[0].port);
      });
    });
    s.missing.forEach(function (role) {
      var mp = missingPorts[role];
      var ports = [];
      mp.in.forEach(function (port, i) {
        ports.push({ id: portKey(role, 'in', port), width: 8, height: 8, layoutOptions: { 'elk.port.side': 'WEST', 'elk.port.index': String(i) } });
      });
      mp.out.forEach(function (port, i) {
        ports.push({ id: portKey(role, 'out', port), width: 8, height: 8, layoutOptions: { 'elk.port.side': 'EAST', 'elk.port.index': String(i) } });
      });
      var height = Math.max(48, 18 * Math.max(mp.in.length, mp.out.length) + 20);
      children.push({ id: 'missing:' + role, width: Math.max(textWidth(role, 14) + 60, 150), height: height, ports: ports, layoutOptions: { 'elk.portConstraints': 'FIXED_ORDER' } });
    });
    // An end on a discovered role without that port is drawn to the role's box.
    function endOf(end, dir) {
      var known = discovered[end.role];
      if (known && known[dir].indexOf(end.port) < 0) return 'role:' + end.role;
      return portKey(end.role, dir, end.port);
    }
    (s.pending || []).forEach(function (e) {
      edges.push({ id: 'pending:' + e.id, sources: [endOf(e.src, 'out')], targets: [endOf(e.tgt, 'in')] });
    });
    s.deadLetters.forEach(function (d) {
      children.push({ id: 'dlq:' + d.queue, width: Math.max(textWidth(d.queue, 11) + 20, 120), height: 40 });
      edges.push({ id: 'deadedge:' + d.queue, sources: ['role:' + d.role], targets: ['dlq:' + d.queue] });
    });
    s.edges.forEach(function (e) {
      edges.push({ id: 'edge:' + e.id, sources: [portKey(e.src.role, 'out', e.src.port)], targets: [portKey(e.tgt.role, 'in', e.tgt.port)], labels: [{ text: '000.0 msg/s', width: 90, height: 14 }] });
    });
    return {
      id: 'root',
      layoutOptions: {
        'elk.algorithm': 'layered',
        'elk.direction': 'RIGHT',
        'elk.edgeRouting': 'ORTHOGONAL',
        'elk.spacing.nodeNode': '30',
        'elk.layered.spacing.nodeNodeBetweenLayers': '90',
        'elk.portLabels.placement': 'INSIDE',
        'elk.edgeLabels.inline': 'false'
      },
      children: children,
      edges: edges
    };
  }

  function pathOf(edge) {
    var d = '';
    (edge.sections || []).forEach(function (sec) {
      d += 'M' + sec.startPoint.x + ',' + sec.startPoint.y;
      (sec.bendPoints || []).forEach(function (b) { d += ' L' + b.x + ',' + b.y; });
      d += ' L' + sec.endPoint.x + ',' + sec.endPoint.y;
    });
    return d;
  }

  function draw(s, layout) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    // Its own size, scaled down to the window's width by CSS (max-width), keeping its proportions.
    svg.setAttribute('width', String(layout.width + 40));
    svg.setAttribute('height', String(layout.height + 40));
    svg.setAttribute('viewBox', '0 0 ' + (layout.width + 40) + ' ' + (layout.height + 40));
    var defs = el('defs', {}, svg);
    var marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' }, defs);
    el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#3b4a66' }, marker);
    var root = el('g', { transform: 'translate(20,20)' }, svg);
    var byId = {};
    layout.children.forEach(function (c) { byId[c.id] = c; });
    var roles = {};
    s.roles.forEach(function (r) { roles['role:' + r.role] = r; });
    var edgesById = {};
    s.edges.forEach(function (e) { edgesById['edge:' + e.id] = e; });
    var pendingById = {};
    (s.pending || []).forEach(function (e) { pendingById['pending:' + e.id] = e; });

    (layout.edges || []).forEach(function (edge) {
      var info = edgesById[edge.id];
      var pending = pendingById[edge.id];
      if (pending) {
        var pg = el('g', { class: 'edge pending ' + pending.type, 'data-pending': 'true', 'data-edge': pending.src.role + '.' + pending.src.port + '->' + pending.tgt.role + '.' + pending.tgt.port }, root);
        el('title', {}, pg, 'not bound: ' + (s.missing.indexOf(pending.tgt.role) >= 0 ? pending.tgt.role : pending.src.role) + ' is not discovered yet');
        el('path', { d: pathOf(edge), 'marker-end': 'url(#arrow)' }, pg);
        return;
      }
      var kind = info ? info.type : 'dead';
      var g = el('g', { class: 'edge ' + kind }, root);
      if (info) {
        g.setAttribute('data-edge', info.src.role + '.' + info.src.port + '->' + info.tgt.role + '.' + info.tgt.port);
        g.setAttribute('data-edge-id', info.id);
      } else {
        g.setAttribute('data-dead-edge', edge.id.slice('deadedge:'.length));
      }
      el('path', { d: pathOf(edge), 'marker-end': 'url(#arrow)' }, g);
      if (info && edge.labels && edge.labels[0]) {
        var l = edge.labels[0];
        el('text', { x: String(l.x), y: String(l.y + 11), 'data-count': 'rate' }, g, '');
      }
    });

    layout.children.forEach(function (c) {
      if (c.id.indexOf('role:') === 0) {
        var r = roles[c.id];
        var g = el('g', { class: r.inGraph ? 'role' : 'role extra', transform: 'translate(' + c.x + ',' + c.y + ')', 'data-role': r.role }, root);
        el('rect', { class: 'box', width: String(c.width), height: String(c.height) }, g);
        var cx = 38;
        el('text', { class: 'name', x: String(cx), y: '18' }, g, r.role);
        el('text', { class: 'component', x: String(cx), y: '33' }, g, r.inGraph ? r.component : r.component + ' \u00b7 not in the graph');
        el('text', { class: 'who', x: String(cx), y: '47', 'data-count': 'participants' }, g, '');
        var counts = el('text', { class: 'counts', x: String(cx), y: '64' }, g);
        el('tspan', {}, counts, 'in flight ');
        el('tspan', { 'data-count': 'inflight' }, counts, '');
        el('tspan', {}, counts, ' \\u00b7 failed ');
        el('tspan', { 'data-count': 'failed' }, counts, '');
        el('tspan', {}, counts, ' \\u00b7 dead ');
        el('tspan', { 'data-count': 'dead' }, counts, '');
        drawPorts(c, g);
      } else if (c.id.indexOf('missing:') === 0) {
        var m = el('g', { class: 'role missing', transform: 'translate(' + c.x + ',' + c.y + ')', 'data-missing-role': c.id.slice(8) }, root);
        el('rect', { class: 'box', width: String(c.width), height: String(c.height) }, m);
        el('text', { class: 'name', x: '18', y: '20' }, m, c.id.slice(8));
        el('text', { class: 'component', x: '18', y: '36' }, m, 'not discovered');
        drawPorts(c, m);
      } else {
        var queue = c.id.slice(4);
        var d = el('g', { class: 'dlq', transform: 'translate(' + c.x + ',' + c.y + ')', 'data-dead-letter': queue }, root);
        el('rect', { class: 'box', width: String(c.width), height: String(c.height) }, d);
        el('text', { x: '10', y: '16' }, d, queue);
        el('text', { x: '10', y: '31', 'data-count': 'kept' }, d, '');
      }
    });
    update(s);
  }

  function setText(scope, selector, value) {
    var node = scope.querySelector('[data-count="' + selector + '"]');
    if (node && node.textContent !== value) node.textContent = value;
  }

  function update(s) {
    s.roles.forEach(function (r) {
      var g = svg.querySelector('[data-role="' + CSS.escape(r.role) + '"]');
      if (!g) return;
      setText(g, 'participants', r.participants.length + ' participant' + (r.participants.length === 1 ? '' : 's'));
      setText(g, 'inflight', count(r.inFlight));
      setText(g, 'failed', count(r.failed));
      setText(g, 'dead', count(r.deadLettered));
      var failed = g.querySelector('[data-count="failed"]');
      if (failed) failed.setAttribute('class', r.failed > 0 ? 'bad' : '');
      g.setAttribute('data-counting', String(r.counting));
    });
    s.edges.forEach(function (e) {
      var g = svg.querySelector('[data-edge-id="' + CSS.escape(e.id) + '"]');
      if (!g) return;
      setText(g, 'rate', e.counting ? e.rate.toFixed(1) + ' msg/s (' + e.total + ' seen)' : 'not watched yet');
      g.setAttribute('data-total', String(e.total));
      g.setAttribute('data-counting', String(e.counting));
      g.setAttribute('class', 'edge ' + e.type + (e.rate > 0 ? ' active' : ''));
    });
    s.deadLetters.forEach(function (d) {
      var g = svg.querySelector('[data-dead-letter="' + CSS.escape(d.queue) + '"]');
      if (!g) return;
      setText(g, 'kept', (d.depth === null ? '' : d.depth + ' kept \\u00b7 ') + d.failed + ' failed');
    });
  }

  function show(s) {
    latest = s;
    document.getElementById('broker').textContent = s.broker;
    document.getElementById('empty').hidden = s.roles.length + s.missing.length > 0;
    if (s.shape === shape) { update(s); return; }
    if (laying) return;
    laying = true;
    var wanted = s.shape;
    elk.layout(graphOf(s)).then(function (layout) {
      laying = false;
      shape = wanted;
      draw(latest.shape === wanted ? latest : s, layout);
      if (latest.shape !== wanted) show(latest);
    }, function (err) {
      laying = false;
      document.getElementById('status').textContent = 'layout failed: ' + err;
    });
  }

  var status = document.getElementById('status');
  var events = new EventSource('/events');
  events.onopen = function () { status.textContent = 'live'; status.className = ''; };
  events.onerror = function () { status.textContent = 'reconnecting'; status.className = 'down'; };
  events.onmessage = function (message) { show(JSON.parse(message.data)); };
})();
</script>
</body>
</html>
`;
