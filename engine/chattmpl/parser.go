package chattmpl

import (
	"fmt"
	"strconv"
	"strings"
)

// The grammar and operator precedence follow @huggingface/jinja (so that
// every template it accepts parses the same way), plus test arguments
// (`is divisibleby 3`, `is equalto(x)`) from Jinja2.

const maxParseDepth = 200

type parser struct {
	toks  []token
	i     int
	depth int
	end   int // source length, the position of "end of template"
}

type parseError struct {
	pos int
	msg string
}

func (e *parseError) Error() string { return e.msg }

func (p *parser) fail(at int, format string, args ...any) {
	panic(&parseError{at, fmt.Sprintf(format, args...)})
}

// parse builds the node list of a template. Errors carry a source offset.
func parse(toks []token, srcLen int) (nodes []node, err error) {
	p := &parser{toks: toks, end: srcLen}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(*parseError)
			if !ok {
				panic(r)
			}
			err = pe
		}
	}()
	for p.i < len(p.toks) {
		if p.isStatement("endif", "endfor", "endset", "endmacro", "endcall", "endfilter", "elif", "else") {
			t := p.toks[p.i+1]
			p.fail(t.pos, "unexpected {%% %s %%} without a matching opening tag", t.val)
		}
		if n := p.parseAny(); n != nil {
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

func (p *parser) peek() *token {
	if p.i < len(p.toks) {
		return &p.toks[p.i]
	}
	return nil
}

func (p *parser) posHere() int {
	if t := p.peek(); t != nil {
		return t.pos
	}
	return p.end
}

func describe(t *token) string {
	if t == nil {
		return "end of template"
	}
	switch t.kind {
	case tText:
		return "text"
	case tString:
		return strconv.Quote(t.val)
	}
	return "'" + t.val + "'"
}

func (p *parser) is(k tokKind) bool {
	t := p.peek()
	return t != nil && t.kind == k
}

func (p *parser) isIdent(names ...string) bool {
	if p.i+len(names) > len(p.toks) {
		return false
	}
	for j, n := range names {
		t := p.toks[p.i+j]
		if t.kind != tIdent || t.val != n {
			return false
		}
	}
	return true
}

func (p *parser) isStatement(names ...string) bool {
	if p.i+1 >= len(p.toks) || p.toks[p.i].kind != tOpenStmt || p.toks[p.i+1].kind != tIdent {
		return false
	}
	for _, n := range names {
		if p.toks[p.i+1].val == n {
			return true
		}
	}
	return false
}

func (p *parser) expect(k tokKind, what string) token {
	t := p.peek()
	if t == nil || t.kind != k {
		p.fail(p.posHere(), "expected %s, found %s", what, describe(t))
	}
	p.i++
	return *t
}

func (p *parser) expectIdent(name string) {
	if !p.isIdent(name) {
		p.fail(p.posHere(), "expected '%s', found %s", name, describe(p.peek()))
	}
	p.i++
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxParseDepth {
		p.fail(p.posHere(), "template nested too deeply (more than %d levels)", maxParseDepth)
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) parseAny() node {
	t := p.peek()
	switch t.kind {
	case tComment:
		p.i++
		return nil
	case tText:
		p.i++
		return &textNode{text: t.val}
	case tOpenStmt:
		return p.parseStatement()
	case tOpenExpr:
		p.i++
		x := p.parseExpr()
		p.expect(tCloseExpr, "'}}'")
		return &outputNode{pos(t.pos), x}
	}
	p.fail(t.pos, "unexpected %s", describe(t))
	return nil
}

// parseBody parses nodes up to a {% name %} among ends, which it leaves unread.
func (p *parser) parseBody(open token, opener string, ends ...string) []node {
	p.enter()
	defer p.leave()
	var body []node
	for !p.isStatement(ends...) {
		if p.i >= len(p.toks) {
			p.fail(open.pos, "{%% %s %%} is not closed: expected {%% %s %%} before the end of the template", opener, strings.Join(ends, " %} or {% "))
		}
		if n := p.parseAny(); n != nil {
			body = append(body, n)
		}
	}
	return body
}

// endTag consumes {% name %}.
func (p *parser) endTag(name string) {
	p.expect(tOpenStmt, "'{%'")
	p.expectIdent(name)
	p.expect(tCloseStmt, "'%}'")
}

func (p *parser) parseStatement() node {
	open := p.expect(tOpenStmt, "'{%'")
	t := p.peek()
	if t == nil || t.kind != tIdent {
		p.fail(p.posHere(), "expected a statement name after '{%%', found %s", describe(t))
	}
	name := t.val
	p.i++
	at := pos(open.pos)
	switch name {
	case "set":
		return p.parseSet(open)
	case "if":
		n := p.parseIf(open)
		p.endTag("endif")
		return n
	case "for":
		n := p.parseFor(open)
		p.endTag("endfor")
		return n
	case "macro":
		nameTok := p.expect(tIdent, "a macro name")
		params := p.parseParams()
		p.expect(tCloseStmt, "'%}'")
		body := p.parseBody(open, "macro", "endmacro")
		p.endTag("endmacro")
		return &macroNode{at, nameTok.val, params, body}
	case "call":
		var callerParams []param
		if p.is(tLParen) {
			callerParams = p.parseParams()
		}
		nameTok := p.expect(tIdent, "the name of the macro to call")
		var fn expr = &nameExpr{pos(nameTok.pos), nameTok.val}
		fn = p.parseMember(fn)
		if !p.is(tLParen) {
			p.fail(p.posHere(), "expected '(' after the macro name in {%% call %%}")
		}
		args, kwargs := p.parseArgs()
		c := &callExpr{pos(nameTok.pos), fn, args, kwargs}
		p.expect(tCloseStmt, "'%}'")
		body := p.parseBody(open, "call", "endcall")
		p.endTag("endcall")
		return &callBlockNode{at, callerParams, c, body}
	case "filter":
		nameTok := p.expect(tIdent, "a filter name")
		f := &filterExpr{pos: pos(nameTok.pos), name: nameTok.val}
		if p.is(tLParen) {
			f.args, f.kwargs = p.parseArgs()
		}
		for p.is(tPipe) { // {% filter a | b %}
			p.i++
			nt := p.expect(tIdent, "a filter name")
			g := &filterExpr{pos: pos(nt.pos), x: f, name: nt.val}
			if p.is(tLParen) {
				g.args, g.kwargs = p.parseArgs()
			}
			f = g
		}
		p.expect(tCloseStmt, "'%}'")
		body := p.parseBody(open, "filter", "endfilter")
		p.endTag("endfilter")
		return &filterBlockNode{at, f, body}
	case "break":
		p.expect(tCloseStmt, "'%}'")
		return &breakNode{at}
	case "continue":
		p.expect(tCloseStmt, "'%}'")
		return &continueNode{at}
	}
	p.fail(t.pos, "unknown statement {%% %s %%}", name)
	return nil
}

func (p *parser) parseSet(open token) node {
	at := pos(open.pos)
	target := p.parseExprSeq(false)
	n := &setNode{pos: at}
	switch t := target.(type) {
	case *nameExpr:
		n.names = []string{t.name}
	case *listLit:
		if !t.tuple {
			p.fail(t.exprPos(), "cannot assign to a list literal")
		}
		n.tuple = true
		for _, it := range t.items {
			ne, ok := it.(*nameExpr)
			if !ok {
				p.fail(it.exprPos(), "can only unpack into names in {%% set %%}")
			}
			n.names = append(n.names, ne.name)
		}
	case *attrExpr:
		if !t.dot {
			p.fail(t.exprPos(), "can only assign attributes with a dot (ns.name) in {%% set %%}")
		}
		n.obj, n.attr = t.obj, t.name
	default:
		p.fail(target.exprPos(), "invalid target in {%% set %%}")
	}
	if p.is(tEquals) {
		p.i++
		n.value = p.parseExprSeq(false)
		p.expect(tCloseStmt, "'%}'")
		return n
	}
	p.expect(tCloseStmt, "'=' or '%}'")
	n.body = p.parseBody(open, "set", "endset")
	p.endTag("endset")
	return n
}

func (p *parser) parseIf(open token) node {
	cond := p.parseExpr()
	p.expect(tCloseStmt, "'%}'")
	n := &ifNode{pos: pos(open.pos), cond: cond}
	n.then = p.parseBody(open, "if", "elif", "else", "endif")
	switch {
	case p.isStatement("elif"):
		elifTok := p.toks[p.i]
		p.i += 2
		n.els = []node{p.parseIf(elifTok)}
	case p.isStatement("else"):
		p.i += 2
		p.expect(tCloseStmt, "'%}'")
		n.els = p.parseBody(open, "if", "endif")
	}
	return n
}

func (p *parser) parseFor(open token) node {
	n := &forNode{pos: pos(open.pos)}
	target := p.parseExprSeq(true)
	switch t := target.(type) {
	case *nameExpr:
		n.vars = []string{t.name}
	case *listLit:
		if !t.tuple {
			p.fail(t.exprPos(), "expected a name or names as the loop variable")
		}
		n.tuple = true
		for _, it := range t.items {
			ne, ok := it.(*nameExpr)
			if !ok {
				p.fail(it.exprPos(), "expected a name as loop variable")
			}
			n.vars = append(n.vars, ne.name)
		}
	default:
		p.fail(target.exprPos(), "expected a name or names as the loop variable")
	}
	if !p.isIdent("in") {
		p.fail(p.posHere(), "expected 'in' after the loop variable, found %s", describe(p.peek()))
	}
	p.i++
	iter := p.parseExpr()
	if c, ok := iter.(*condExpr); ok && c.b == nil {
		n.iter, n.filter = c.a, c.cond
	} else {
		n.iter = iter
	}
	p.expect(tCloseStmt, "'%}'")
	n.body = p.parseBody(open, "for", "endfor", "else")
	if p.isStatement("else") {
		p.i += 2
		p.expect(tCloseStmt, "'%}'")
		n.els = p.parseBody(open, "for", "endfor")
	}
	return n
}

// parseParams reads a macro's (a, b=default, ...) list.
func (p *parser) parseParams() []param {
	p.expect(tLParen, "'('")
	var params []param
	seen := map[string]bool{}
	sawDefault := false
	for !p.is(tRParen) {
		nt := p.expect(tIdent, "a parameter name")
		if seen[nt.val] {
			p.fail(nt.pos, "duplicate parameter %q", nt.val)
		}
		seen[nt.val] = true
		pr := param{name: nt.val}
		if p.is(tEquals) {
			p.i++
			pr.def = p.parseExpr()
			sawDefault = true
		} else if sawDefault {
			p.fail(nt.pos, "parameter %q without a default follows one with a default", nt.val)
		}
		params = append(params, pr)
		if !p.is(tComma) {
			break
		}
		p.i++
	}
	p.expect(tRParen, "')'")
	return params
}

// parseArgs reads a call's (positional..., name=value...) list.
func (p *parser) parseArgs() ([]expr, []kwarg) {
	p.expect(tLParen, "'('")
	var args []expr
	var kwargs []kwarg
	for !p.is(tRParen) {
		if t := p.peek(); t != nil && (t.kind == tPower || (t.kind == tMultiplicative && t.val == "*")) {
			p.i++
			args = append(args, &spreadExpr{pos(t.pos), p.parseExpr(), t.kind == tPower})
		} else if p.is(tIdent) && p.i+1 < len(p.toks) && p.toks[p.i+1].kind == tEquals {
			nt := p.toks[p.i]
			p.i += 2
			for _, k := range kwargs {
				if k.name == nt.val {
					p.fail(nt.pos, "keyword argument %q given twice", nt.val)
				}
			}
			kwargs = append(kwargs, kwarg{nt.val, p.parseExpr()})
		} else {
			at := p.posHere()
			x := p.parseExpr()
			if len(kwargs) > 0 || hasSpread(args) {
				p.fail(at, "positional argument follows keyword argument")
			}
			args = append(args, x)
		}
		if !p.is(tComma) {
			break
		}
		p.i++
	}
	p.expect(tRParen, "')' or ','")
	return args, kwargs
}

func hasSpread(args []expr) bool {
	for _, a := range args {
		if _, ok := a.(*spreadExpr); ok {
			return true
		}
	}
	return false
}

func (p *parser) parseExprSeq(primary bool) expr {
	at := p.posHere()
	parse := p.parseExpr
	if primary {
		parse = p.parsePrimary
	}
	first := parse()
	if !p.is(tComma) {
		return first
	}
	items := []expr{first}
	for p.is(tComma) {
		p.i++
		if p.is(tRParen) || p.is(tCloseStmt) || p.isIdent("in") || p.is(tEquals) {
			break // trailing comma
		}
		items = append(items, parse())
	}
	return &listLit{pos(at), items, true}
}

func (p *parser) parseExpr() expr {
	p.enter()
	defer p.leave()
	at := p.posHere()
	a := p.parseOr()
	if p.isIdent("if") {
		p.i++
		cond := p.parseOr()
		if p.isIdent("else") {
			p.i++
			return &condExpr{pos(at), cond, a, p.parseExpr()}
		}
		return &condExpr{pos(at), cond, a, nil}
	}
	return a
}

func (p *parser) parseOr() expr {
	l := p.parseAnd()
	for p.isIdent("or") {
		at := p.posHere()
		p.i++
		l = &binaryExpr{pos(at), "or", l, p.parseAnd()}
	}
	return l
}

func (p *parser) parseAnd() expr {
	l := p.parseNot()
	for p.isIdent("and") {
		at := p.posHere()
		p.i++
		l = &binaryExpr{pos(at), "and", l, p.parseNot()}
	}
	return l
}

func (p *parser) parseNot() expr {
	if p.isIdent("not") {
		p.enter()
		defer p.leave()
		at := p.posHere()
		p.i++
		return &unaryExpr{pos(at), "not", p.parseNot()}
	}
	return p.parseComparison()
}

func (p *parser) parseComparison() expr {
	l := p.parseAdditive()
	for {
		at := p.posHere()
		var op string
		switch {
		case p.isIdent("not", "in"):
			op = "not in"
			p.i += 2
		case p.isIdent("in"):
			op = "in"
			p.i++
		case p.is(tComparison):
			op = p.toks[p.i].val
			p.i++
		default:
			return l
		}
		l = &binaryExpr{pos(at), op, l, p.parseAdditive()}
	}
}

func (p *parser) parseAdditive() expr {
	l := p.parseMultiplicative()
	for p.is(tAdditive) {
		t := p.toks[p.i]
		p.i++
		l = &binaryExpr{pos(t.pos), t.val, l, p.parseMultiplicative()}
	}
	return l
}

func (p *parser) parseMultiplicative() expr {
	l := p.parsePower()
	for p.is(tMultiplicative) {
		t := p.toks[p.i]
		p.i++
		l = &binaryExpr{pos(t.pos), t.val, l, p.parsePower()}
	}
	return l
}

func (p *parser) parsePower() expr {
	l := p.parseTest()
	for p.is(tPower) {
		t := p.toks[p.i]
		p.i++
		l = &binaryExpr{pos(t.pos), "**", l, p.parseTest()}
	}
	return l
}

var testArgStop = map[string]bool{"and": true, "or": true, "else": true, "if": true, "not": true, "in": true, "is": true}

func (p *parser) parseTest() expr {
	x := p.parseFilter()
	for p.isIdent("is") {
		at := p.posHere()
		p.i++
		neg := false
		if p.isIdent("not") {
			neg = true
			p.i++
		}
		nt := p.expect(tIdent, "a test name after 'is'")
		t := &testExpr{pos: pos(at), x: x, name: nt.val, negate: neg}
		switch {
		case p.is(tLParen):
			var kw []kwarg
			t.args, kw = p.parseArgs()
			if len(kw) > 0 {
				p.fail(at, "tests take no keyword arguments")
			}
		case p.is(tNumber), p.is(tString), p.is(tIdent) && !testArgStop[p.toks[p.i].val]:
			t.args = []expr{p.parsePrimary()}
		}
		x = t
	}
	return x
}

func (p *parser) parseFilter() expr {
	x := p.parseUnary()
	for p.is(tPipe) {
		p.i++
		nt := p.expect(tIdent, "a filter name after '|'")
		f := &filterExpr{pos: pos(nt.pos), x: x, name: nt.val}
		if p.is(tLParen) {
			f.args, f.kwargs = p.parseArgs()
		}
		x = f
	}
	return x
}

func (p *parser) parseUnary() expr {
	t := p.peek()
	if t != nil && (t.kind == tUnary || t.kind == tAdditive) && (t.val == "-" || t.val == "+") {
		p.enter()
		defer p.leave()
		p.i++
		return &unaryExpr{pos(t.pos), t.val, p.parseUnary()}
	}
	x := p.parseMember(p.parsePrimary())
	if p.is(tLParen) {
		return p.parseCall(x)
	}
	return x
}

func (p *parser) parseCall(fn expr) expr {
	at := fn.exprPos()
	args, kwargs := p.parseArgs()
	x := p.parseMember(&callExpr{pos(at), fn, args, kwargs})
	if p.is(tLParen) {
		return p.parseCall(x)
	}
	return x
}

func (p *parser) parseMember(x expr) expr {
	for p.is(tDot) || p.is(tLBracket) {
		t := p.toks[p.i]
		p.i++
		if t.kind == tDot {
			nt := p.peek()
			switch {
			case nt != nil && nt.kind == tIdent:
				p.i++
				x = &attrExpr{pos: pos(t.pos), obj: x, key: &literal{pos(nt.pos), nt.val}, dot: true, name: nt.val}
			case nt != nil && nt.kind == tNumber && !strings.ContainsAny(nt.val, ".-+"):
				p.i++
				n, err := strconv.ParseInt(nt.val, 10, 64)
				if err != nil {
					p.fail(nt.pos, "index %s out of range", nt.val)
				}
				x = &attrExpr{pos: pos(t.pos), obj: x, key: &literal{pos(nt.pos), n}, dot: true, name: nt.val}
			default:
				p.fail(p.posHere(), "expected a name or an integer after '.', found %s", describe(nt))
			}
			continue
		}
		// [ ... ]: an index or a slice a:b:c
		var parts []expr
		slice := false
		for !p.is(tRBracket) {
			if p.i >= len(p.toks) {
				p.fail(t.pos, "'[' is not closed")
			}
			if p.is(tColon) {
				parts = append(parts, nil)
				p.i++
				slice = true
				continue
			}
			parts = append(parts, p.parseExpr())
			if p.is(tColon) {
				p.i++
				slice = true
			} else if !p.is(tRBracket) {
				p.fail(p.posHere(), "expected ']' or ':', found %s", describe(p.peek()))
			}
		}
		p.expect(tRBracket, "']'")
		if len(parts) == 0 && !slice {
			p.fail(t.pos, "expected an index or a slice inside []")
		}
		if slice {
			// HF counts a trailing ':' as an omitted part only through the colon;
			// pad to three parts.
			if len(parts) > 3 {
				p.fail(t.pos, "a slice takes at most three parts (start:stop:step)")
			}
			for len(parts) < 3 {
				parts = append(parts, nil)
			}
			x = &sliceExpr{pos(t.pos), x, parts[0], parts[1], parts[2]}
		} else {
			x = &attrExpr{pos: pos(t.pos), obj: x, key: parts[0]}
		}
	}
	return x
}

func (p *parser) parsePrimary() expr {
	p.enter()
	defer p.leave()
	t := p.peek()
	if t == nil {
		p.fail(p.end, "unexpected end of template: expected an expression")
	}
	p.i++
	at := pos(t.pos)
	switch t.kind {
	case tNumber:
		if strings.Contains(t.val, ".") {
			f, err := strconv.ParseFloat(t.val, 64)
			if err != nil {
				p.fail(t.pos, "invalid number %s", t.val)
			}
			return &literal{at, f}
		}
		n, err := strconv.ParseInt(t.val, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(t.val, 64)
			if ferr != nil {
				p.fail(t.pos, "invalid number %s", t.val)
			}
			return &literal{at, f}
		}
		return &literal{at, n}
	case tString:
		s := t.val
		for p.is(tString) { // adjacent literals concatenate
			s += p.toks[p.i].val
			p.i++
		}
		return &literal{at, s}
	case tIdent:
		switch t.val {
		case "true", "True":
			return &literal{at, true}
		case "false", "False":
			return &literal{at, false}
		case "none", "None":
			return &literal{at, nil}
		}
		return &nameExpr{at, t.val}
	case tLParen:
		x := p.parseExprSeq(false)
		p.expect(tRParen, "')'")
		return x
	case tLBracket:
		l := &listLit{pos: at}
		for !p.is(tRBracket) {
			if p.i >= len(p.toks) {
				p.fail(t.pos, "'[' is not closed")
			}
			l.items = append(l.items, p.parseExpr())
			if p.is(tComma) {
				p.i++
			} else if !p.is(tRBracket) {
				p.fail(p.posHere(), "expected ',' or ']' in a list, found %s", describe(p.peek()))
			}
		}
		p.i++
		return l
	case tLBrace:
		d := &dictLit{pos: at}
		for !p.is(tRBrace) {
			if p.i >= len(p.toks) {
				p.fail(t.pos, "'{' is not closed")
			}
			d.keys = append(d.keys, p.parseExpr())
			p.expect(tColon, "':' between key and value")
			d.vals = append(d.vals, p.parseExpr())
			if p.is(tComma) {
				p.i++
			} else if !p.is(tRBrace) {
				p.fail(p.posHere(), "expected ',' or '}' in a mapping, found %s", describe(p.peek()))
			}
		}
		p.i++
		return d
	}
	p.fail(t.pos, "unexpected %s: expected an expression", describe(t))
	return nil
}
