// eslint rule (loaded with --rulesdir by scripts/lint.sh): two statements of one block on
// one line, `a(); b();`, as swift-format's DoNotUseSemicolons finds them in Swift. A
// statement that holds another on its line (`if (x) { y(); }`, `() => { z = 0; }`) is one.
"use strict";

module.exports = {
  meta: {
    type: "layout",
    docs: { description: "one statement of a block a line" },
    schema: [],
  },
  create(context) {
    function check(statements) {
      for (let i = 1; i < statements.length; i++) {
        const previous = statements[i - 1];
        const next = statements[i];
        if (previous.loc.end.line === next.loc.start.line) {
          context.report({ node: next, message: "statement joined to the previous one on its line" });
        }
      }
    }
    return {
      Program: (node) => check(node.body),
      BlockStatement: (node) => check(node.body),
      SwitchCase: (node) => check(node.consequent),
      ClassBody: (node) => check(node.body),
    };
  },
};
