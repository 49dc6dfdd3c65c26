// Reads TypeScript source on stdin and prints structural facts as JSON, using the TypeScript 5.9 compiler API
// (parse only, never executed). argv[2] is the node_modules folder holding the locked typescript package.
const ts = require(require('path').join(process.argv[2], 'typescript'));
const source = require('fs').readFileSync(0, 'utf8');
const file = ts.createSourceFile('answer.ts', source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
const facts = {
  syntaxError: null, loops: 0, comprehensions: 0, calls: [], ifs: 0, lambdas: 0, nestedIfs: 0, switchExpressions: 0, fstrings: 0,
  stringFormats: 0, dataclasses: 0, dunderMethods: 0, asyncFunctions: 0, awaits: 0, optionalChains: 0, nullishCoalescing: 0,
};
// An `else if` is an IfStatement that is its parent IfStatement's else branch: it continues the chain, it does not nest.
function chainHead(n) {
  while (n.parent && ts.isIfStatement(n.parent) && n.parent.elseStatement === n) n = n.parent;
  return n;
}
function hasIfAncestor(n) {
  for (let p = n.parent; p; p = p.parent) if (ts.isIfStatement(p)) return true;
  return false;
}
function isAsync(n) {
  return (ts.isFunctionDeclaration(n) || ts.isFunctionExpression(n) || ts.isArrowFunction(n) || ts.isMethodDeclaration(n))
    && (ts.getCombinedModifierFlags(n) & ts.ModifierFlags.Async) !== 0;
}
const diagnostics = file.parseDiagnostics || [];
if (diagnostics.length > 0) {
  const d = diagnostics[0];
  const { line } = file.getLineAndCharacterOfPosition(d.start || 0);
  facts.syntaxError = `${ts.flattenDiagnosticMessageText(d.messageText, ' ')} (line ${line + 1})`;
}
function visit(node) {
  if (isAsync(node)) facts.asyncFunctions++;
  // `a?.b`, `a?.[i]` and `f?.()` carry a questionDotToken on their own node.
  if (node.questionDotToken !== undefined) facts.optionalChains++;
  switch (node.kind) {
    case ts.SyntaxKind.ForStatement:
    case ts.SyntaxKind.ForInStatement:
    case ts.SyntaxKind.ForOfStatement:
    case ts.SyntaxKind.WhileStatement:
    case ts.SyntaxKind.DoStatement:
      facts.loops++;
      break;
    case ts.SyntaxKind.IfStatement:
      facts.ifs++;
      if (hasIfAncestor(chainHead(node))) facts.nestedIfs++;
      break;
    case ts.SyntaxKind.AwaitExpression:
      facts.awaits++;
      break;
    case ts.SyntaxKind.BinaryExpression:
      if (node.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken) facts.nullishCoalescing++;
      break;
    case ts.SyntaxKind.ArrowFunction:
    case ts.SyntaxKind.FunctionExpression:
      facts.lambdas++;
      break;
    case ts.SyntaxKind.CallExpression: {
      const callee = node.expression;
      if (ts.isIdentifier(callee)) facts.calls.push(callee.text);
      else if (ts.isPropertyAccessExpression(callee)) facts.calls.push(callee.name.text);
      break;
    }
    default:
      break;
  }
  ts.forEachChild(node, visit);
}
visit(file);
process.stdout.write(JSON.stringify(facts) + '\n');
