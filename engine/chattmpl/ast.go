package chattmpl

// Statements of a template body.
type node interface{ nodePos() int }

// Expressions.
type expr interface{ exprPos() int }

type pos int

func (p pos) nodePos() int { return int(p) }
func (p pos) exprPos() int { return int(p) }

type (
	textNode   struct{ text string }
	outputNode struct {
		pos
		x expr
	}
	ifNode struct {
		pos
		cond      expr
		then, els []node
	}
	forNode struct {
		pos
		vars      []string // one name, or the names of a tuple target
		tuple     bool
		iter      expr
		filter    expr // `for x in xs if cond`: nil when absent
		body, els []node
	}
	setNode struct {
		pos
		names []string // target names (tuple when len > 1 or tuple is set)
		tuple bool
		obj   expr   // attribute target: obj.attr
		attr  string //
		value expr   // nil for a block set
		body  []node
	}
	macroNode struct {
		pos
		name   string
		params []param
		body   []node
	}
	callBlockNode struct {
		pos
		callerParams []param
		call         *callExpr
		body         []node
	}
	filterBlockNode struct {
		pos
		filter *filterExpr // operand is nil: the rendered body
		body   []node
	}
	breakNode    struct{ pos }
	continueNode struct{ pos }
)

func (textNode) nodePos() int { return -1 }

type param struct {
	name string
	def  expr // nil: required
}

type (
	literal struct {
		pos
		v Value
	}
	listLit struct {
		pos
		items []expr
		tuple bool
	}
	dictLit struct {
		pos
		keys, vals []expr
	}
	nameExpr struct {
		pos
		name string
	}
	// attrExpr is a.b (dot = true) or a[b].
	attrExpr struct {
		pos
		obj  expr
		key  expr // for a.b: a string literal; a.0: an integer literal
		dot  bool
		name string // the name after a dot, for messages
	}
	sliceExpr struct {
		pos
		obj               expr
		start, stop, step expr // nil when omitted
	}
	callExpr struct {
		pos
		fn     expr
		args   []expr
		kwargs []kwarg
	}
	filterExpr struct {
		pos
		x      expr
		name   string
		args   []expr
		kwargs []kwarg
	}
	testExpr struct {
		pos
		x      expr
		name   string
		negate bool
		args   []expr
	}
	unaryExpr struct {
		pos
		op string // not - +
		x  expr
	}
	binaryExpr struct {
		pos
		op   string
		l, r expr
	}
	condExpr struct {
		pos
		cond, a, b expr // b nil: undefined when cond is false
	}
)

// spreadExpr is *x (positional) or **x (keyword) in a call's arguments.
type spreadExpr struct {
	pos
	x  expr
	kw bool
}

type kwarg struct {
	name string
	v    expr
}
