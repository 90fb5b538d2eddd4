// DOM helpers: text only. Everything another person typed goes in with textContent,
// never as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (typeof children === "string") node.textContent = children;
  else if (children) for (const c of children) node.append(c);
  return node;
}

export const panelId = (name) => `panel-${encodeURIComponent(name)}`;
export const tabId = (name) => `tab-${encodeURIComponent(name)}`;
