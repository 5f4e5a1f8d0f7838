r"""The "Used in lesson ..." lines of the coursehelpers docstrings agree with the notebooks.

Parses the package with `ast` and the notebooks with `json` (nothing is imported or run:
no torch, no GPU, no data; well under a second). The rules:

Which docstrings. Every public function and class of every coursehelpers module, and
every public method (or classmethod, staticmethod, property) of a public class; public =
the name does not start with `_`. Module docstrings are not checked.

Which sentences. A claim is a sentence that starts with "Used in" or "Used by" and runs
to the next full stop followed by a space or the end of the docstring.

What the lesson numbers mean. A lesson list is "lesson NN", or "lessons" followed by
numbers joined with ",", "and", "to" or "-" ("lessons 01, 02 and 07", "lessons 01 to 06"
and "lessons 01-08" are ranges, both ends included), or "every lesson" (every notebook
nbs/NN_*.ipynb, 00 and 08 included).
- "Used in <lessons>": the lessons whose code uses the name itself. "Used in the first
  code cell of every lesson" asks for the name in the first code cell of each notebook.
- Any other lesson list in a claim (in "Used by ..." sentences, or after the first list
  of a "Used in" sentence) is about the backticked name written nearest before it:
  "Used by `Learner.lr_find` (lessons 01 and 03)" says `Learner.lr_find` is used in
  lessons 01 and 03, and is checked as if it were `Learner.lr_find`'s own "Used in" line.
  That name must be a coursehelpers function, class or `Class.method`; a lesson list
  with no such name before it ("Used by the Learner in lessons 01 and 02") is an error.
- A "Used by `caller`" sentence without lesson numbers names a caller, not a lesson: it
  is not checked, except that the name it documents must not be used directly by any
  lesson it does not claim (below).
- A "Used in" sentence that does not start with one of the lesson lists is an error.

Both directions are checked, for the name itself and for every named caller:
each claimed lesson uses it, and every lesson that uses it is claimed (a name whose
claims are only "Used by ..." must be used directly by no lesson).

What "used in a lesson" means. The code cells of nbs/NN_*.ipynb are read with `ast`
(markdown, comments and string literals do not count, f-string expressions do; IPython's
`?name`, `??name` and `name?` count as reading `name`; `!shell` and `%magic` lines are
skipped; a cell that still does not parse is read with regexes instead):
- a function or class `name`: `name` read as an identifier, i.e. the word `\bname\b`
  but not as an attribute of some other object (`learn.plot_losses()` is not the
  function `plot_losses`), nor in an import line, and only in a lesson that does not
  bind `name` itself at the top level of a cell (`pick = ...`, `def name`, a for
  target, an import from outside coursehelpers): a lesson's own variable is not the helper.
- a method `Class.name`: a call `.name(`; a property: `.name`; a classmethod or
  staticmethod: `Class.name(`.
- The receiver of a method call is not known, so for an ambiguous method name the
  converse is skipped (a lesson calling `.name(` that is not claimed is not an error;
  each claimed lesson must still call `.name(`). Ambiguous = defined as a method by more
  than one class of coursehelpers (`predict`: `Learner` and `ImagePredictor`), or in
  GENERIC_METHODS, names that the pandas, numpy, torch and sklearn objects of the
  lessons also have (`rf.fit(...)`, `baseline.predict(...)`, `torch.load(...)`).

Every mismatch is reported in one failure: module, name, the claim, the lessons claimed,
the lessons found.
"""
import ast
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'coursehelpers'
NOTEBOOKS = sorted((ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb'))

GENERIC_METHODS = frozenset({
    'add', 'apply', 'choose', 'copy', 'decode', 'encode', 'eval', 'features', 'fit', 'forward',
    'get', 'items', 'keys', 'label', 'load', 'plot', 'predict', 'reset', 'save', 'show', 'step',
    'to', 'train', 'transform', 'update', 'values'})

CLAIM = re.compile(r'Used (?:in|by)\b.*?\.(?=\s|$)')
NUMBERS = r'\d\d(?:\s*(?:,|\band\b|\bto\b|-|\u2013)\s*\d\d)*'
LESSON_LIST = re.compile(rf'\blessons?\s+({NUMBERS})|\bevery lesson\b')
LEADING = re.compile(rf'Used in (?:(?P<first>the first code cell of )?every lesson\b'
                     rf'|lessons?\s+(?P<numbers>{NUMBERS}))')
BACKTICKED = re.compile(r'`([^`]+)`')
IDENTIFIER = re.compile(r'[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*')
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


# ---- the package ----

@dataclass
class Definition:
    module: str          # coursehelpers.training.learner
    qualname: str        # Learner.fit
    kind: str            # function, class, method, classmethod, property
    doc: str = ''

    @property
    def name(self):
        return self.qualname.rsplit('.', 1)[-1]


def _decorators(node):
    return {d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute) else ''
            for d in node.decorator_list}


def package_definitions(package=PACKAGE):
    """Every function, class and method of the package (private ones too: callers may be)."""
    found = []
    for path in sorted(package.rglob('*.py')):
        module = '.'.join(path.relative_to(package.parent).with_suffix('').parts)
        for node in ast.parse(path.read_text(encoding='utf-8')).body:
            doc = ast.get_docstring(node) if isinstance(node, DEFS) else None
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append(Definition(module, node.name, 'function', doc or ''))
            elif isinstance(node, ast.ClassDef):
                found.append(Definition(module, node.name, 'class', doc or ''))
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        decorators = _decorators(item)
                        kind = ('property' if decorators & {'property', 'cached_property'} else
                                'classmethod' if decorators & {'classmethod', 'staticmethod'} else
                                'method')
                        found.append(Definition(module, f'{node.name}.{item.name}', kind,
                                                ast.get_docstring(item) or ''))
    return found


def is_public(d):
    return not any(part.startswith('_') for part in d.qualname.split('.'))


# ---- the lessons ----

@dataclass
class Code:
    """What some code cells use: read with `ast`, so strings and comments do not count
    (f-string expressions do)."""
    names: set = field(default_factory=set)          # identifiers read: `cnn_learner`
    calls: set = field(default_factory=set)          # attributes called: `.fit(`
    attrs: set = field(default_factory=set)          # attributes read: `.classes`
    qualified_calls: set = field(default_factory=set)   # ('Vocab', 'from_tokens')
    bound: set = field(default_factory=set)          # names the cells bind at top level


@dataclass
class Lesson:
    number: str                      # '01'
    code: Code                       # every code cell
    first_cell: Code


def _cell_source(cell):
    src = cell.get('source', '')
    return ''.join(src) if isinstance(src, list) else src


def _top_level_bindings(tree):
    """Names bound at module level: assignments, for/with targets, defs, imports not from
    coursehelpers; not the insides of functions, classes, lambdas or comprehensions."""
    names = set()

    def targets(node):
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                names.add(n.id)

    def visit(stmts):
        for s in stmts:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(s.name)
                continue
            if isinstance(s, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                for t in (s.targets if isinstance(s, ast.Assign) else [s.target]):
                    targets(t)
            elif isinstance(s, (ast.For, ast.AsyncFor)):
                targets(s.target)
            elif isinstance(s, (ast.With, ast.AsyncWith)):
                for item in s.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
            elif isinstance(s, ast.Import):
                names.update((a.asname or a.name).split('.')[0] for a in s.names)
            elif isinstance(s, ast.ImportFrom):
                if not (s.module or '').startswith('coursehelpers'):
                    names.update(a.asname or a.name for a in s.names if a.name != '*')
            for block in ('body', 'orelse', 'finalbody'):
                if isinstance(getattr(s, block, None), list):
                    visit(getattr(s, block))
            for handler in getattr(s, 'handlers', []):
                visit(handler.body)
    visit(tree.body)
    return names


def read_code(cells):
    """The `Code` of some cell sources. IPython's own lines are not Python: `?name`,
    `??name` and `name?` count as reading `name`; `!shell` and `%magic` lines are skipped.
    A cell that still does not parse is read with regexes (words, `.name(`, `.name`)."""
    code = Code()
    for source in cells:
        python = []
        for line in source.splitlines():
            s = line.strip()
            if s.startswith('?') or (s.endswith('?') and not s.startswith(('!', '%'))):
                code.names.update(IDENTIFIER.findall(s.strip('?')))
                python.append('')
            else:
                python.append('' if s.startswith(('!', '%')) else line)
        try:
            tree = ast.parse('\n'.join(python))
        except SyntaxError:
            code.names.update(re.findall(r'(?<![\w.])([A-Za-z_]\w*)', source))
            code.calls.update(re.findall(r'\.([A-Za-z_]\w*)\s*\(', source))
            code.attrs.update(re.findall(r'\.([A-Za-z_]\w*)', source))
            continue
        code.bound |= _top_level_bindings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                code.names.add(node.id)
            elif isinstance(node, ast.Attribute):
                code.attrs.add(node.attr)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                code.calls.add(node.func.attr)
                if isinstance(node.func.value, ast.Name):
                    code.qualified_calls.add((node.func.value.id, node.func.attr))
    return code


def load_lesson(path):
    cells = [_cell_source(c) for c in json.loads(path.read_text(encoding='utf-8'))['cells']
             if c.get('cell_type') == 'code']
    return Lesson(path.name[:2], read_code(cells), read_code(cells[:1]))


# ---- which lessons use a name ----

class Usage:
    """Finds the lessons whose code uses a definition, by the rules of the module docstring."""

    def __init__(self, definitions, lessons):
        self.lessons = {lesson.number: lesson for lesson in lessons}
        self.by_name = {}
        for d in definitions:
            if d.kind in ('function', 'class'):
                self.by_name.setdefault(d.qualname, d)
        self.methods = {d.qualname: d for d in definitions if '.' in d.qualname}
        owners = {}
        for d in definitions:
            if d.kind in ('method', 'property'):
                owners.setdefault(d.name, set()).add(d.qualname.split('.')[0])
        self.shared = {name for name, classes in owners.items() if len(classes) > 1}

    def ambiguous(self, d):
        return d.kind in ('method', 'property') and (d.name in GENERIC_METHODS
                                                     or d.name in self.shared)

    def uses(self, d, lesson, first_cell=False):
        code = lesson.first_cell if first_cell else lesson.code
        if d.kind == 'method':
            return d.name in code.calls
        if d.kind == 'property':
            return d.name in code.attrs
        if d.kind == 'classmethod':
            return (d.qualname.split('.')[0], d.name) in code.qualified_calls
        return d.name in code.names and d.name not in lesson.code.bound

    def found(self, d):
        return {n for n, lesson in self.lessons.items() if self.uses(d, lesson)}

    def resolve(self, text):
        """A backticked caller -> its Definition, or None."""
        text = text.strip()
        if not IDENTIFIER.fullmatch(text):
            return None
        parts = text.split('.')
        if len(parts) >= 2 and '.'.join(parts[-2:]) in self.methods:
            return self.methods['.'.join(parts[-2:])]
        return self.by_name.get(parts[-1])


def parse_numbers(numbers):
    """'01, 02 and 07' -> {'01', '02', '07'}; '01 to 06' and '01-06' are ranges."""
    result = set()
    for item in re.split(r'\s*(?:,|\band\b)\s*', numbers.strip()):
        ends = re.split(r'\s*(?:\bto\b|-|\u2013)\s*', item)
        if len(ends) == 2:
            result |= {f'{i:02d}' for i in range(int(ends[0]), int(ends[1]) + 1)}
        else:
            result.add(f'{int(ends[0]):02d}')
    return result


def fmt(lessons):
    return ', '.join(sorted(lessons)) or 'none'


# ---- the check ----

def check(definitions, lessons):
    """Every mismatch between the claims of `definitions` and `lessons`, one line each."""
    definitions = list(definitions)
    usage = Usage(definitions, lessons)
    all_lessons = set(usage.lessons)
    problems = []

    def report(d, claim, text):
        problems.append(f'{d.module}: {d.qualname}: "{claim}": {text}')

    def compare(d, subject, claim, claimed, first_cell=False):
        """`subject` (d itself, or a caller its claim names) against the lessons claimed."""
        if claimed - all_lessons:
            report(d, claim, f'no notebook for lesson(s) {fmt(claimed - all_lessons)}')
        found = usage.found(subject)
        found_here = {n for n in all_lessons if usage.uses(subject, usage.lessons[n], first_cell)}
        missing = (claimed & all_lessons) - found_here
        extra = set() if usage.ambiguous(subject) else found - claimed
        if not (missing or extra):
            return
        who = '' if subject is d else f'`{subject.qualname}` '
        why = [f'{who}not used in {"the first code cell of " if first_cell else ""}'
               f'lesson(s) {fmt(missing)}'] if missing else []
        why += [f'{who}used in lesson(s) {fmt(extra)} too'] if extra else []
        note = ' (ambiguous method name: converse not checked)' if usage.ambiguous(subject) else ''
        report(d, claim, f'claims lessons [{fmt(claimed)}], found [{fmt(found)}]{note}: '
                         + '; '.join(why))

    for d in definitions:
        if not is_public(d):
            continue
        claims = CLAIM.findall(' '.join(d.doc.split()))
        if not claims:
            continue
        direct, first_cell, direct_claims, readable = set(), False, [], True
        for claim in claims:
            rest_from = 0
            if claim.startswith('Used in'):
                lead = LEADING.match(claim)
                if not lead:
                    report(d, claim, 'cannot read the lessons: write "lesson NN", "lessons NN and '
                                     'NN", "lessons NN to NN" or "every lesson"')
                    readable = False
                    continue
                if lead.group('numbers'):
                    direct |= parse_numbers(lead.group('numbers'))
                else:
                    direct |= all_lessons
                    first_cell = first_cell or bool(lead.group('first'))
                direct_claims.append(claim)
                rest_from = lead.end()
            # any other lesson list is about the backticked name nearest before it
            for m in LESSON_LIST.finditer(claim, rest_from):
                before = BACKTICKED.findall(claim[:m.start()])
                caller = usage.resolve(before[-1]) if before else None
                if caller is None:
                    report(d, claim, f'"{m.group(0)}": name the caller these lessons are about '
                                     'as a backticked coursehelpers name right before them'
                                     + (f' (`{before[-1]}` is not one)' if before else ''))
                    continue
                every = m.group(0).startswith('every')
                compare(d, caller, claim, all_lessons if every else parse_numbers(m.group(1)))
        if readable:      # the name itself: the lessons claimed (maybe none) and those using it
            compare(d, d, ' / '.join(direct_claims or claims), direct, first_cell)
    return problems


def checked_definitions():
    return [d for d in package_definitions()
            if is_public(d) and CLAIM.search(' '.join(d.doc.split()))]


def test_used_in_lines_match_the_notebooks():
    start = time.perf_counter()
    lessons = [load_lesson(p) for p in NOTEBOOKS]
    assert len(lessons) >= 9, NOTEBOOKS
    definitions = package_definitions()
    assert len(checked_definitions()) > 100          # the claims are found at all
    problems = check(definitions, lessons)
    assert time.perf_counter() - start < 5
    assert not problems, (f'{len(problems)} "Used in/by" line(s) disagree with the notebooks '
                          f'(rules: tests/test_used_in_lessons.py):\n' + '\n'.join(problems))


# ---- the checker finds drift ----

def test_lesson_lists_are_parsed():
    assert parse_numbers('02') == {'02'}
    assert parse_numbers('01 and 02') == {'01', '02'}
    assert parse_numbers('01, 02 and 07') == {'01', '02', '07'}
    assert parse_numbers('01 to 06') == {'01', '02', '03', '04', '05', '06'}
    assert parse_numbers('01-03') == {'01', '02', '03'}
    assert parse_numbers('01 to 03 and 07') == {'01', '02', '03', '07'}
    assert LEADING.match('Used in every lesson.') and LEADING.match(
        'Used in the first code cell of every lesson.').group('first')
    assert CLAIM.findall('Lesson text. Used by `get_data(\'planet\', \'full\')`. More.') == [
        "Used by `get_data('planet', 'full')`."]


def test_the_checker_reports_drift():
    """Made-up docstrings against made-up lessons: every kind of mismatch is reported."""
    def fake(qualname, kind, doc=''):
        return Definition('coursehelpers.fake', qualname, kind, doc)

    definitions = [
        fake('cnn_learner', 'function', 'A learner.\n\n    Used in lessons 01,\n    03 and 07.'),
        fake('Learner', 'class'),
        fake('Learner.fine_tune', 'method', 'Used in lesson 01.'),          # it is lesson 07
        fake('Learner.fit', 'method', 'Used in lesson 08.'),                # generic: forward only
        fake('Learner.lr_find', 'method', 'Used in lessons 01 and 03.'),    # right
        fake('KeepBNStats', 'class', 'Used in lesson 07.'),                 # lesson 01 too
        fake('SmoothedLoss', 'class', 'Used by `Learner.lr_find` (lesson 01).'),   # 01 and 03
        fake('explain_oom', 'function', 'Used by the Learner in lessons 01 and 02.'),
        fake('record', 'function', 'Used in most lessons.'),                # unreadable
        fake('show_training_loop', 'function', 'Used by `Learner.fit`.'),   # right: no lesson
        fake('accuracy', 'function', 'Used by `Learner.fit`.'),             # lessons use it
        fake('pick', 'function', 'Used in lesson 01.'),                     # 05's pick is its own
        fake('banner', 'function', 'Used in the first code cell of every lesson.'),
        fake('ImageDataLoaders.from_csv', 'classmethod', 'Used in lesson 02.'),
        fake('CollabDataLoaders.from_csv', 'classmethod', 'Used in lesson 05.'),
        fake('get_data', 'function', 'Used in lesson 01.'),                 # `?get_data` in 00
        fake('_private', 'function', 'Used in lesson 08.'),                 # not checked
    ]
    first = 'from coursehelpers import banner\nbanner(seed=42)'
    cells = {
        '00': [first, '?get_data'],
        '01': [first, "path = get_data('dogscats')\n"
                      'learn = cnn_learner(dls, arch, cbs=[KeepBNStats()])\nlearn.lr_find()\n'
                      "learn.fit(1e-3, 1)\naccuracy(p, y)\nx = pick(p, y, 'correct')"],
        '02': ['import torch', 'banner()\nlearn = cnn_learner(dls, arch)\n'
                               'dls = ImageDataLoaders.from_csv(path)'],
        '03': [first, 'learn.lr_find()\nrf.fit(X, y)\nprint("accuracy")  # accuracy, cnn_learner'],
        '05': [first, 'pick = rng.choice(10, 5)\nplt.scatter(x[pick], y[pick])\n'
                      'dls = CollabDataLoaders.from_df(df)'],
        '07': [first, '!ls {path}\nlearn = cnn_learner(dls, arch, cbs=[KeepBNStats()])\n'
                      'learn.fine_tune(1)\nprint(f"{accuracy(p, y):.3f}")'],
        '08': [first],
    }
    lessons = [Lesson(n, read_code(c), read_code(c[:1])) for n, c in cells.items()]
    problems = check(definitions, lessons)
    text = '\n'.join(problems)
    expected = [
        'cnn_learner: "Used in lessons 01, 03 and 07.": claims lessons [01, 03, 07], found '
        '[01, 02, 07]: not used in lesson(s) 03; used in lesson(s) 02 too',
        'Learner.fine_tune: "Used in lesson 01.": claims lessons [01], found [07]: not used in '
        'lesson(s) 01; used in lesson(s) 07 too',
        'Learner.fit: "Used in lesson 08.": claims lessons [08], found [01, 03] (ambiguous '
        'method name: converse not checked): not used in lesson(s) 08',
        'KeepBNStats: "Used in lesson 07.": claims lessons [07], found [01, 07]: used in '
        'lesson(s) 01 too',
        'SmoothedLoss: "Used by `Learner.lr_find` (lesson 01).": claims lessons [01], found '
        '[01, 03]: `Learner.lr_find` used in lesson(s) 03 too',
        'explain_oom: "Used by the Learner in lessons 01 and 02.": "lessons 01 and 02": name '
        'the caller these lessons are about',
        'record: "Used in most lessons.": cannot read the lessons',
        'accuracy: "Used by `Learner.fit`.": claims lessons [none], found [01, 07]: used in '
        'lesson(s) 01, 07 too',
        'banner: "Used in the first code cell of every lesson.": claims lessons [00, 01, 02, '
        '03, 05, 07, 08], found [00, 01, 02, 03, 05, 07, 08]: not used in the first code cell '
        'of lesson(s) 02',
        'CollabDataLoaders.from_csv: "Used in lesson 05.": claims lessons [05], found [none]: '
        'not used in lesson(s) 05',
        'get_data: "Used in lesson 01.": claims lessons [01], found [00, 01]: used in '
        'lesson(s) 00 too',
    ]
    for line in expected:
        assert sum(line in p for p in problems) == 1, f'{line}\nnot in:\n{text}'
    assert len(problems) == len(expected), text


def test_a_drift_in_the_real_package_is_reported():
    """A fake claim on a real name, against the real notebooks (lesson 03 is tabular)."""
    definitions = package_definitions()
    cnn_learner = next(d for d in definitions if d.qualname == 'cnn_learner')
    cnn_learner.doc = 'Used in lessons 01, 02, 03 and 07.'
    problems = check([cnn_learner], [load_lesson(p) for p in NOTEBOOKS])
    assert len(problems) == 1 and 'not used in lesson(s) 03' in problems[0], problems
