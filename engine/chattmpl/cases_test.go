package chattmpl

// constructCase is one template construct with its expected rendering. The
// expectations agree with @huggingface/jinja 0.5.11 unless hfDiffers says
// why not (TestCrossCheckHFJinja verifies that when node is available).
type constructCase struct {
	name      string
	tmpl      string
	vars      string // JSON object
	want      string
	wantErr   string // substring of the expected error
	hfDiffers string // why @huggingface/jinja renders differently (or fails)
}

var constructCases = []constructCase{
	// text, output, comments, whitespace control
	{name: "text", tmpl: "hello", want: "hello"},
	{name: "trailing newline dropped", tmpl: "hello\n", want: "hello"},
	{name: "only one trailing newline dropped", tmpl: "hello\n\n", want: "hello\n"},
	{name: "output", tmpl: "a{{ x }}b", vars: `{"x": "X"}`, want: "aXb"},
	{name: "comment", tmpl: "a{# note #}b", want: "ab"},
	{name: "comment strip", tmpl: "a  {#- note -#}  b", want: "ab"},
	{name: "expr strip left", tmpl: "a  \n {{- 'x' }} b", want: "ax b"},
	{name: "expr strip right", tmpl: "a {{ 'x' -}} \n b", want: "a xb"},
	{name: "stmt strip", tmpl: "a \n{%- if true -%}\n b \n{%- endif -%}\n c", want: "abc"},
	{name: "trim_blocks", tmpl: "{% if true %}\nyes\n{% endif %}\nend", want: "yes\nend"},
	{name: "lstrip_blocks", tmpl: "x\n    {% if true %}\n    y\n    {% endif %}\nz", want: "x\n    y\nz"},
	{name: "lstrip not for expressions", tmpl: "x\n  {{ 'y' }}\nz", want: "x\n  y\nz"},
	{name: "trim_blocks after comment", tmpl: "{# c #}\nx", want: "x"},
	{name: "tab lstrip", tmpl: "a\n\t\t{% set x = 1 %}\nb", want: "a\nb"},
	{name: "generation block", tmpl: "{% generation %}gen{% endgeneration %}!", want: "gen!"},
	{name: "generation block strip", tmpl: "a {%- generation -%} b {%- endgeneration %} c", want: "ab c"},
	{name: "generation keeps whitespace", tmpl: "a\n  {% generation %}\n b {% endgeneration %}  c", want: "a\n b   c"},
	{name: "generation word in text", tmpl: "{% if add_generation_prompt %}generation{% endif %} {{ 'x' }}", vars: `{"add_generation_prompt": true}`, want: "generation x"},
	{name: "unicode whitespace strip", tmpl: "a\u00a0\u3000{{- 'b' }}", want: "ab"},

	// literals and printing
	{name: "integers", tmpl: "{{ 1 }} {{ -2 }} {{ 007 }}", want: "1 -2 7"},
	{name: "floats", tmpl: "{{ 1.0 }} {{ 2.5 }} {{ -0.0 }} {{ 0.1 }}", want: "1.0 2.5 -0.0 0.1"},
	{name: "booleans print lowercase", tmpl: "{{ true }} {{ False }} {{ 1 == 1 }}", want: "true false true"},
	{name: "none prints empty", tmpl: "[{{ none }}][{{ None }}][{{ missing }}]", want: "[][][]"},
	{name: "string escapes", tmpl: `{{ 'a\nb\t\'c\'' }}{{ "\"q\"" }}`, want: "a\nb\t'c'\"q\""},
	{name: "unicode escapes", tmpl: `{{ '\u00e9\x41' }}`, want: "éA"},
	{name: "surrogate pair escape", tmpl: `{{ '\ud83d\ude00' }}`, want: "😀"},
	{name: "adjacent strings concatenate", tmpl: `{{ 'a' "b" 'c' }}`, want: "abc"},
	{name: "list prints as json", tmpl: "{{ [1, 'a', none, true] }}", want: `[1, "a", null, true]`},
	{name: "dict prints as json", tmpl: "{{ {'b': 1, 'a': [2]} }}", want: `{"b": 1, "a": [2]}`},
	{name: "tuple", tmpl: "{% set t = (1, 2) %}{{ t[1] }}{{ t|length }}", want: "22"},

	// arithmetic and operators
	{name: "arithmetic", tmpl: "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }}", want: "7 9 3 1 1024 3.5"},
	{name: "int division result is float", tmpl: "{{ 4 / 2 }}", want: "2.0"},
	{name: "float arithmetic", tmpl: "{{ 0.1 + 0.2 }} {{ 1.5 * 2 }}", want: "0.30000000000000004 3.0"},
	{name: "concat tilde", tmpl: "{{ 'a' ~ 1 ~ true ~ none }}", want: "a1true", hfDiffers: "errors on ~ with none"},
	{name: "string plus", tmpl: "{{ 'a' + 'b' }}{{ 'n' + 1 }}", want: "abn1"},
	{name: "concat list and float", tmpl: "{{ 'x' + [1, 'a', 2.0, [3]] }}|{{ 'x' ~ 1.0 }}|{{ 'm' + {'a': 1} }}", want: "x1,a,2.0,[3]|x1|m[object Map]"},
	{name: "spread arguments", tmpl: "{% macro m(a, b, c='z') %}{{ a }}{{ b }}{{ c }}{% endmacro %}{{ m(*[1, 2]) }} {{ m(**{'a': 3, 'b': 4, 'c': 5}) }}", want: "12z 345"},
	{name: "list plus", tmpl: "{{ [1] + [2, 3] }}", want: "[1, 2, 3]"},
	{name: "string repeat", tmpl: "{{ '-' * 3 }}", want: "---", hfDiffers: "no string repetition"},
	{name: "comparisons", tmpl: "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 1 != 2 }} {{ 1 == 1.0 }}", want: "true true false true true"},
	{name: "string comparison", tmpl: "{{ 'a' < 'b' }}", want: "true", hfDiffers: "cannot compare strings with <"},
	{name: "and or not", tmpl: "{{ true and false }} {{ false or 'x' }} {{ not false }} {{ 0 or [] or 'z' }}", want: "false x true z"},
	{name: "and returns operand", tmpl: "{{ 'a' and 'b' }}", want: "b"},
	{name: "in", tmpl: "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }}", want: "true true true true"},
	{name: "in undefined", tmpl: "{{ 'a' in nothing }}", want: "false"},
	{name: "unary minus", tmpl: "{% set x = 3 %}{{ -x }} {{ - 2 }}", want: "-3 -2"},
	{name: "not binds looser than comparison", tmpl: "{{ not 1 == 2 }}", want: "true"},
	{name: "binary minus after paren", tmpl: "{{ (5)-2 }} {{ [5][0]-2 }}", want: "3 3"},
	{name: "negative modulo", tmpl: "{{ -7 % 3 }}", want: "2", hfDiffers: "JavaScript % keeps the dividend's sign"},
	{name: "floor division negative", tmpl: "{{ -7 // 2 }}", want: "-4"},

	// conditionals
	{name: "if elif else", tmpl: "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %} {% endfor %}", want: "one two many "},
	{name: "ternary", tmpl: "{{ 'y' if true else 'n' }}{{ 'y' if false else 'n' }}", want: "yn"},
	{name: "ternary without else", tmpl: "[{{ 'y' if false }}]", want: "[]"},
	{name: "nested ternary in parens", tmpl: "{{ 'a' + ('b' if x else 'c') + 'd' }}", vars: `{"x": false}`, want: "acd"},
	{name: "ternary chain", tmpl: "{{ 'a' if n == 1 else 'b' if n == 2 else 'c' }}", vars: `{"n": 2}`, want: "b"},
	{name: "gemma style prefix", tmpl: "{{ '<start>' + role + '\n' + (prefix if loop_first else \"\") }}", vars: `{"role": "user", "prefix": "SYS\n\n", "loop_first": true}`, want: "<start>user\nSYS\n\n"},

	// tests
	{name: "defined", tmpl: "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ x is not defined }}", vars: `{"x": 1}`, want: "true false true false"},
	{name: "none test", tmpl: "{{ x is none }} {{ y is none }} {{ x is not none }}", vars: `{"x": null, "y": 0}`, want: "true false false"},
	{name: "type tests", tmpl: "{{ 'a' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 'a' is iterable }} {{ 1 is number }} {{ 1.5 is integer }} {{ true is boolean }} {{ [] is sequence }}", want: "true true true true true false true true"},
	{name: "true false tests", tmpl: "{{ x is true }} {{ x is false }} {{ 1 is true }}", vars: `{"x": false}`, want: "false true false"},
	{name: "odd even", tmpl: "{{ 3 is odd }} {{ 3 is even }} {{ 4 is even }}", want: "true false true"},
	{name: "divisibleby", tmpl: "{{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}", want: "true false", hfDiffers: "tests take no arguments"},
	{name: "equalto", tmpl: "{{ 'a' is equalto 'a' }} {{ 2 is eq(3) }}", want: "true false", hfDiffers: "tests take no arguments"},
	{name: "not is defined", tmpl: "{{ not x is defined }}", want: "true"},
	{name: "enable_thinking false", tmpl: "{% if enable_thinking is defined and enable_thinking is false %}off{% endif %}", vars: `{"enable_thinking": false}`, want: "off"},

	// loops
	{name: "for loop vars", tmpl: "{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }} {% endfor %}", want: "10truefalse33 21falsefalse32 32falsetrue31 "},
	{name: "previtem nextitem", tmpl: "{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }} {% endfor %}", want: "-2 1-3 2- "},
	{name: "for else", tmpl: "{% for x in [] %}x{% else %}empty{% endfor %}", want: "empty"},
	{name: "for unpack items", tmpl: "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", vars: `{"d": {"z": 1, "a": 2}}`, want: "z=1;a=2;"},
	{name: "for over dict keys", tmpl: "{% for k in d %}{{ k }}{% endfor %}", vars: `{"d": {"z": 1, "a": 2}}`, want: "za"},
	{name: "for inline filter", tmpl: "{% for x in xs if x > 1 %}{{ x }}{{ loop.index }} {% endfor %}", vars: `{"xs": [1, 2, 3]}`, want: "21 32 "},
	{name: "for iterable filter", tmpl: "{% for m in msgs | selectattr('role', 'equalto', 'user') %}{{ m.content }}{% endfor %}", vars: `{"msgs": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}, {"role": "user", "content": "c"}]}`, want: "ac"},
	{name: "for reversed slice", tmpl: "{% for x in xs[::-1] %}{{ x }}{% endfor %}", vars: `{"xs": [1, 2, 3]}`, want: "321"},
	{name: "break continue", tmpl: "{% for x in range(10) %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", want: "023"},
	{name: "nested loops", tmpl: "{% for a in [1, 2] %}{% for b in [3, 4] %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}", want: "131 142 1|231 242 2|"},
	{name: "loop scope does not leak", tmpl: "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", want: "1"},
	{name: "for over string", tmpl: "{% for c in 'ab' %}[{{ c }}]{% endfor %}", want: "[a][b]", hfDiffers: "cannot iterate a string"},
	{name: "for over undefined", tmpl: "{% for c in nothing %}x{% else %}none{% endfor %}", want: "none", hfDiffers: "errors iterating undefined"},
	{name: "loop cycle", tmpl: "{% for x in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}", want: "aba", hfDiffers: "no loop.cycle"},

	// set, namespace
	{name: "set", tmpl: "{% set x = 'a' ~ 'b' %}{{ x }}", want: "ab"},
	{name: "set tuple", tmpl: "{% set a, b = [1, 2] %}{{ a }}{{ b }}", want: "12"},
	{name: "block set", tmpl: "{% set x %}in {{ 'side' }}{% endset %}[{{ x }}]", want: "[in side]"},
	{name: "namespace", tmpl: "{% set ns = namespace(n=0, found=false) %}{% for x in [1, 2, 3] %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}", want: "6"},
	{name: "namespace from dict", tmpl: "{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}", want: "12"},
	{name: "set attr on non-namespace", tmpl: "{% set d = {} %}{% set d.x = 1 %}", wantErr: "only a namespace()"},

	// member access
	{name: "attribute and item", tmpl: "{{ m.role }} {{ m['role'] }} {{ m.missing }}|{{ m.missing.deeper }}|", vars: `{"m": {"role": "user"}}`, want: "user user ||"},
	{name: "index", tmpl: "{{ xs[0] }}{{ xs[-1] }}{{ xs.1 }}[{{ xs[10] }}]", vars: `{"xs": [1, 2, 3]}`, want: "132[]"},
	{name: "slices", tmpl: "{{ xs[1:] }} {{ xs[:2] }} {{ xs[::2] }} {{ xs[-2:] }} {{ 'hello'[1:3] }} {{ 'abc'[::-1] }}", vars: `{"xs": [1, 2, 3, 4]}`, want: "[2, 3, 4] [1, 2] [1, 3] [3, 4] el cba"},
	{name: "string index", tmpl: "{{ 'héllo'[1] }}{{ 'abc'[-1] }}", want: "éc"},
	{name: "messages slice", tmpl: "{% for m in messages[1:] %}{{ m.content }}{% endfor %}", vars: `{"messages": [{"content": "a"}, {"content": "b"}, {"content": "c"}]}`, want: "bc"},

	// string methods
	{name: "strip", tmpl: "[{{ '  a  '.strip() }}][{{ '  a  '.lstrip() }}][{{ '  a  '.rstrip() }}]", want: "[a][a  ][  a]"},
	{name: "strip chars", tmpl: "[{{ '\n\nab\n'.strip('\n') }}][{{ 'xxaxx'.lstrip('x') }}][{{ ' a\n'.rstrip('\n') }}]", want: "[ab][axx][ a]", hfDiffers: "strip ignores its chars argument"},
	{name: "split", tmpl: "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }}", want: `["a", "b", "", "c"] ["a", "b"] ["a", "b,c"]`},
	{name: "split think", tmpl: "{{ c.split('</think>')[-1].lstrip('\n') }}|{{ c.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') }}", vars: `{"c": "<think>\nreason\n</think>\n\nanswer"}`, want: "answer|reason"},
	{name: "startswith endswith", tmpl: "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }}", want: "true true true"},
	{name: "case methods", tmpl: "{{ 'aB'.upper() }} {{ 'aB'.lower() }} {{ 'hello world'.title() }} {{ 'hello'.capitalize() }}", want: "AB ab Hello World Hello"},
	{name: "replace method", tmpl: "{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }}", want: "bbb bba"},
	{name: "string length attr via filter", tmpl: "{{ 'héllo'|length }}", want: "5"},

	// dict and list methods
	{name: "dict methods", tmpl: "{{ d.keys() }} {{ d.values() }} {{ d.items() }} {{ d.get('a') }} {{ d.get('z', 'def') }}[{{ d.get('z') }}]", vars: `{"d": {"b": 1, "a": 2}}`, want: `["b", "a"] [1, 2] [["b", 1], ["a", 2]] 2 def[]`},
	{name: "list append", tmpl: "{% set xs = [] %}{{ xs.append(1) }}{{ xs.append(2) }}{{ xs }}", want: "[1, 2]", hfDiffers: "no list.append"},

	// filters
	{name: "length count", tmpl: "{{ [1, 2]|length }} {{ 'abc'|count }} {{ {'a': 1}|length }}", want: "2 3 1", hfDiffers: "count is not a filter"},
	{name: "trim", tmpl: "[{{ '  x \n'|trim }}]", want: "[x]"},
	{name: "upper lower title capitalize", tmpl: "{{ 'ab'|upper }} {{ 'AB'|lower }} {{ 'a b'|title }} {{ 'ab'|capitalize }}", want: "AB ab A B Ab"},
	{name: "default", tmpl: "{{ x|default('d') }} {{ y|default('d') }} {{ ''|default('d', true) }} {{ z|d('dd') }}", vars: `{"y": "set"}`, want: "d set d dd", hfDiffers: "no d alias"},
	{name: "join", tmpl: "{{ ['a', 'b']|join(', ') }} {{ [1, 2]|join }}", want: "a, b 12"},
	{name: "first last", tmpl: "{{ [1, 2, 3]|first }}{{ [1, 2, 3]|last }}", want: "13"},
	{name: "list reverse", tmpl: "{{ 'ab'|list }} {{ [1, 2]|reverse|list }}", want: `["a", "b"] [2, 1]`, hfDiffers: "list of a string"},
	{name: "sort", tmpl: "{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ [3, 1, 2]|sort(reverse=true) }}", want: `[1, 2, 3] ["A", "b", "c"] [3, 2, 1]`},
	{name: "sort attribute", tmpl: "{{ xs|sort(attribute='n')|map(attribute='n')|list }}", vars: `{"xs": [{"n": 2}, {"n": 1}]}`, want: "[1, 2]"},
	{name: "unique", tmpl: "{{ [1, 2, 1, 3]|unique|list }}", want: "[1, 2, 3]"},
	{name: "map attribute", tmpl: "{{ xs|map(attribute='name')|join(',') }}", vars: `{"xs": [{"name": "a"}, {"name": "b"}]}`, want: "a,b"},
	{name: "map filter", tmpl: "{{ ['a', 'b']|map('upper')|join }}", want: "AB", hfDiffers: "map without attribute"},
	{name: "select reject", tmpl: "{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ [0, 1, '']|select|list }}", want: "[1, 3] [2, 4] [1]", hfDiffers: "no select/reject"},
	{name: "selectattr rejectattr", tmpl: "{{ xs|selectattr('on')|map(attribute='n')|list }} {{ xs|rejectattr('on')|map(attribute='n')|list }}", vars: `{"xs": [{"n": 1, "on": true}, {"n": 2, "on": false}]}`, want: "[1] [2]"},
	{name: "selectattr equalto", tmpl: "{{ xs|selectattr('role', 'equalto', 'user')|list|length }}", vars: `{"xs": [{"role": "user"}, {"role": "tool"}]}`, want: "1"},
	{name: "tojson order and unicode", tmpl: "{{ x|tojson }}", vars: `{"x": {"z": "é😀\n\"", "a": [1, 2.5, null, true], "m": {}}}`, want: `{"z": "é😀\n\"", "a": [1, 2.5, null, true], "m": {}}`},
	{name: "tojson indent", tmpl: "{{ x|tojson(indent=2) }}", vars: `{"x": {"a": [1, {"b": []}], "c": "d"}}`, want: "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ],\n  \"c\": \"d\"\n}"},
	{name: "tojson ensure_ascii", tmpl: "{{ 'é😀'|tojson(ensure_ascii=true) }}", want: `"\u00e9\ud83d\ude00"`},
	{name: "tojson sort_keys separators", tmpl: "{{ {'b': 1, 'a': 2}|tojson(sort_keys=true, separators=(',', ':')) }}", want: `{"a":2,"b":1}`},
	{name: "tojson float", tmpl: "{{ [1.0, 0.5, 10.0 ** 22, 2 ** 0.5]|tojson }}", want: "[1, 0.5, 1e+22, 1.4142135623730951]"},
	{name: "tojson control chars", tmpl: "{{ '\x01\x7f'|tojson }}", want: "\"\\u0001\x7f\""},
	{name: "string filter", tmpl: "{{ 1|string }}{{ true|string }}{{ [1]|string }}", want: "1true[1]"},
	{name: "int float abs", tmpl: "{{ '42'|int }} {{ '4.5'|float }} {{ 'x'|int }} {{ -3|abs }} {{ 3.7|int }} {{ 2|float }}", want: "42 4.5 0 3 3 2.0"},
	{name: "round", tmpl: "{{ 2.567|round(2) }} {{ 2.5|round }} {{ 2.1|round(method='ceil') }}", want: "2.57 3.0 3.0", hfDiffers: "no round filter"},
	{name: "replace filter", tmpl: "{{ 'a-b-c'|replace('-', '+') }}", want: "a+b+c"},
	{name: "indent", tmpl: "{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}", want: "a\n  b\n\n  c|  a\n  b"},
	{name: "safe escape", tmpl: "{{ '<a>'|safe }} {{ '<a href=\"x\">&'|escape }} {{ \"'\"|e }}", want: "<a> &lt;a href=&#34;x&#34;&gt;&amp; &#39;", hfDiffers: "no escape filter"},
	{name: "items filter", tmpl: "{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %}", vars: `{"d": {"b": 1, "a": 2}}`, want: "b1a2"},
	{name: "dictsort", tmpl: "{% for k, v in d|dictsort %}{{ k }}{{ v }}{% endfor %}", vars: `{"d": {"b": 1, "a": 2}}`, want: "a2b1"},
	{name: "batch", tmpl: "{{ [1, 2, 3, 4, 5]|batch(2)|list }}", want: "[[1, 2], [3, 4], [5]]", hfDiffers: "no batch filter"},
	{name: "filter chain args", tmpl: "{{ messages|map(attribute='role')|select('equalto', 'user')|list|length }}", vars: `{"messages": [{"role": "user"}, {"role": "assistant"}, {"role": "user"}]}`, want: "2", hfDiffers: "no select filter"},
	{name: "filter block", tmpl: "{% filter upper %}abc {{ 'd' }}{% endfilter %}", want: "ABC D"},
	{name: "filter then test", tmpl: "{{ xs|length is even }}", vars: `{"xs": [1, 2]}`, want: "true"},

	// macros and call
	{name: "macro", tmpl: "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', punct='.') }}", want: "Hi a! Hi b? Hi c."},
	{name: "macro varargs kwargs", tmpl: "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}", want: `1[2, 3]{"k": "v"}`},
	{name: "macro too many args", tmpl: "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}", wantErr: "at most 1 argument"},
	{name: "call block", tmpl: "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold{% endcall %}", want: "<b>bold</b>"},
	{name: "call block with args", tmpl: "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(item) each([1, 2]) %}[{{ item }}]{% endcall %}", want: "[1][2]"},
	{name: "recursive macro", tmpl: "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", want: "321"},

	// globals
	{name: "range", tmpl: "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(3, 0, -1)|list }}", want: "[0, 1, 2] [1, 3, 5] [3, 2, 1]"},
	{name: "dict global", tmpl: "{{ dict(a=1, b='x')|tojson }}", want: `{"a": 1, "b": "x"}`, hfDiffers: "no dict()"},
	{name: "raise_exception", tmpl: "{{ raise_exception('Roles must alternate') }}", wantErr: "Roles must alternate"},

	// undefined semantics and errors
	{name: "undefined is falsy", tmpl: "{% if nothing %}y{% else %}n{% endif %}{% if nothing.attr %}y{% else %}n{% endif %}", want: "nn"},
	{name: "call undefined", tmpl: "{{ nothing() }}", wantErr: "'nothing' is undefined"},
	{name: "iterate none", tmpl: "{% for x in tools %}{% endfor %}", vars: `{"tools": null}`, wantErr: "cannot iterate over none ('tools')"},
	{name: "undefined arithmetic", tmpl: "{{ nothing + 1 }}", wantErr: "'nothing' is undefined"},
	{name: "unknown filter", tmpl: "{{ 1|frobnicate }}", wantErr: `unknown filter "frobnicate"`},
	{name: "division by zero", tmpl: "{{ 1 / 0 }}", wantErr: "division by zero", hfDiffers: "JavaScript gives Infinity"},
}
