// A small, safe Markdown renderer for answers: everything is HTML-escaped first, then fenced
// code blocks, inline code, headings, lists, block quotes, bold/italic and http(s) links are
// turned into elements. Unfinished fences (a streaming answer) render as an open code block.

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ESC[c]);

function inline(text) {
  const parts = text.split(/(`[^`\n]+`)/g);
  return parts
    .map((part, i) => {
      if (i % 2 === 1) return `<code>${part.slice(1, -1)}</code>`;
      return part
        .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
        .replace(/(^|[^*])\*([^*\n]+)\*/g, "$1<em>$2</em>")
        .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
    })
    .join("");
}

function block(lines) {
  const out = [];
  let list = null;
  const closeList = () => { if (list) { out.push(`</${list}>`); list = null; } };
  let para = [];
  const flush = () => { if (para.length) { out.push(`<p>${inline(para.join("<br>"))}</p>`); para = []; } };
  for (const line of lines) {
    let m;
    if (!line.trim()) { flush(); closeList(); continue; }
    if ((m = line.match(/^(#{1,4})\s+(.*)$/))) {
      flush(); closeList();
      out.push(`<h${m[1].length + 2}>${inline(m[2])}</h${m[1].length + 2}>`);
    } else if ((m = line.match(/^\s*[-*]\s+(.*)$/)) || (m = line.match(/^\s*\d+[.)]\s+(.*)$/))) {
      flush();
      const kind = /^\s*\d/.test(line) ? "ol" : "ul";
      if (list !== kind) { closeList(); out.push(`<${kind}>`); list = kind; }
      out.push(`<li>${inline(m[1])}</li>`);
    } else if ((m = line.match(/^&gt;\s?(.*)$/))) {
      flush(); closeList();
      out.push(`<blockquote>${inline(m[1])}</blockquote>`);
    } else {
      closeList();
      para.push(line);
    }
  }
  flush(); closeList();
  return out.join("");
}

export function renderMarkdown(source) {
  const text = escapeHtml(source || "");
  const chunks = text.split(/^```/m);
  let html = "";
  chunks.forEach((chunk, i) => {
    if (i % 2 === 0) { html += block(chunk.split("\n")); return; }
    const nl = chunk.indexOf("\n");
    const lang = nl < 0 ? "" : chunk.slice(0, nl).trim();
    const code = nl < 0 ? "" : chunk.slice(nl + 1);
    const label = lang ? `<span class="lang">${lang}</span>` : "";
    html += `<pre class="code">${label}<code>${code.replace(/\n$/, "")}</code></pre>`;
  });
  return html;
}
