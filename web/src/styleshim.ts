// xterm.js puts its theme and cell sizes in <style> elements, which the
// page's CSP (style-src 'self') forbids.  Every <style> the app would create
// becomes an inert, hidden element instead, whose text is mirrored into a
// constructed stylesheet (CSSOM, which CSP allows).  The app itself creates
// no <style> elements; this only serves the terminal.
const sheets = new Map<Element, CSSStyleSheet>();

export function installStyleShim(): void {
  const create = Document.prototype.createElement;
  Document.prototype.createElement = function (this: Document, tag: string, opts?: ElementCreationOptions) {
    if (String(tag).toLowerCase() !== 'style') return create.call(this, tag, opts);
    const el = create.call(this, 'corral-style');
    const sheet = new CSSStyleSheet();
    sheets.set(el, sheet);
    this.adoptedStyleSheets = [...this.adoptedStyleSheets, sheet];
    const sync = () => { try { sheet.replaceSync(el.textContent ?? ''); } catch { /* bad CSS: ignore */ } };
    new MutationObserver(sync).observe(el, { childList: true, characterData: true, subtree: true });
    return el;
  } as typeof Document.prototype.createElement;
}

/* Drops the sheets of shim elements no longer in the page. */
export function pruneStyleShim(): void {
  for (const [el, sheet] of sheets) {
    if (el.isConnected) continue;
    sheets.delete(el);
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
  }
}
