"""ML-specific smells found statically in training scripts (no code is executed).

Each rule is one function taking the analysed module and the file name and
returning :class:`Smell` findings. The analysis is intra-procedural and
syntactic: a *scope* is the module body or one function body, data flow is
followed through plain assignments within a scope, and calls are recognised by
their resolved dotted name (``import numpy as np`` makes ``np.random.rand``
``numpy.random.rand``). It prefers missing a smell to inventing one.

Rules (severity in brackets):

- ``ML000`` [medium] the file could not be parsed.
- ``ML001`` [high] a preprocessor (scaler, encoder, imputer, selector, PCA,
  vectoriser, resampler) is fitted, in the same scope and *before* a
  ``train_test_split`` or ``cross_val_*`` call, on data that the call then
  splits: the same variable, one derived from the fit's output, or the source
  the split data was derived from. Test-row statistics leak into training.
  A ``Pipeline`` fitted after the split is the fix, and is never flagged.
- ``ML002`` [high] a ``fit``-like call (``fit``, ``fit_transform``,
  ``partial_fit``, ``fit_predict``, ``fit_resample``) whose ``X`` or ``y`` is
  test data only: a test-looking name (``X_test``, ``test_df``, ``holdout``),
  an odd output of ``train_test_split`` (``_, X_te, _, y_te = ...``), or a
  value derived only from those.
- ``ML003`` [low] randomness without a seed: ``train_test_split``, shuffling
  splitters, randomised scikit-learn estimators and samplers without
  ``random_state``; ``numpy.random.*``, ``random.*`` or ``torch.rand*`` calls
  with no ``numpy.random.seed`` / ``random.seed`` / ``torch.manual_seed`` (or a
  ``seed_everything``/``set_seed`` helper) anywhere in the file; unseeded
  ``default_rng()`` / ``RandomState()`` / ``random.Random()``.
- ``ML004`` [medium] deserialising with ``pickle``/``dill``/``cloudpickle``/
  ``joblib``/``pandas.read_pickle``/``numpy.load(allow_pickle=True)``/
  ``torch.load`` (without ``weights_only=True``) from a source that is not a
  string literal: loading an untrusted file runs arbitrary code.

A finding on a line carrying ``# noqa`` or ``# noqa: ML00x`` is dropped.

Example:
    >>> src = "from sklearn.model_selection import train_test_split\\n"
    >>> src += "a, b = train_test_split([1, 2, 3, 4])\\n"
    >>> [(s.rule, s.line) for s in find_smells(src, "code/train.py")]
    [('ML003', 2)]
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

HIGH, MEDIUM, LOW = "high", "medium", "low"

RULES: dict[str, tuple[str, str]] = {
    "ML000": (MEDIUM, "file could not be parsed"),
    "ML001": (HIGH, "preprocessing fitted before the train/test split (leakage)"),
    "ML002": (HIGH, "model or transformer fitted on test data"),
    "ML003": (LOW, "randomness without a seed"),
    "ML004": (MEDIUM, "unsafe deserialisation from a non-literal source"),
}


@dataclass(frozen=True)
class Smell:
    """One ML smell: rule id, message, and where (file is the artifact name)."""

    rule: str
    message: str
    file: str
    line: int
    column: int = 0

    @property
    def severity(self) -> str:
        """``high``, ``medium`` or ``low`` (see :data:`RULES`)."""
        return RULES[self.rule][0]


# -- vocabulary -------------------------------------------------------------------------
_PREPROCESSORS = frozenset({
    "StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "Normalizer",
    "QuantileTransformer", "PowerTransformer", "KBinsDiscretizer", "Binarizer",
    "OneHotEncoder", "OrdinalEncoder", "LabelEncoder", "LabelBinarizer",
    "MultiLabelBinarizer", "TargetEncoder", "SimpleImputer", "KNNImputer",
    "IterativeImputer", "MissingIndicator", "PCA", "KernelPCA", "IncrementalPCA",
    "SparsePCA", "TruncatedSVD", "FastICA", "NMF", "FactorAnalysis", "SelectKBest",
    "SelectPercentile", "SelectFpr", "SelectFdr", "SelectFwe", "SelectFromModel",
    "GenericUnivariateSelect", "VarianceThreshold", "RFE", "RFECV",
    "SequentialFeatureSelector", "TfidfVectorizer", "CountVectorizer", "HashingVectorizer",
    "TfidfTransformer", "DictVectorizer", "ColumnTransformer", "FeatureUnion", "SMOTE",
    "ADASYN", "BorderlineSMOTE", "RandomOverSampler", "RandomUnderSampler",
})
_PREPROCESSOR_SUFFIX = re.compile(r"(Scaler|Encoder|Imputer|Vectorizer|Discretizer|PCA)$")
_FIT_METHODS = frozenset({"fit", "fit_transform", "partial_fit", "fit_predict",
                          "fit_resample"})
_PREPROCESSOR_FITS = frozenset({"fit", "fit_transform", "fit_resample"})
# Callee name -> index of its first data argument.
_SPLITTERS = {"train_test_split": 0, "cross_val_score": 1, "cross_validate": 1,
              "cross_val_predict": 1}
_TEST_TOKEN = re.compile(r"^(x|y)?(test|tst|holdout)(x|y)?$")
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")
# Constructors whose result is data, not a fitted object.
_DATA_CLASSES = frozenset({"DataFrame", "Series", "Index", "Categorical", "Tensor",
                           "TensorDataset", "Path"})
_OBJECT_FACTORIES = frozenset({"make_pipeline", "make_column_transformer", "make_union"})
_BUILTINS = frozenset(dir(builtins))

_RANDOM_ESTIMATOR = re.compile(
    r"^(RandomForest|ExtraTrees|GradientBoosting|HistGradientBoosting|DecisionTree|ExtraTree"
    r"|Bagging|AdaBoost|IsolationForest|RandomTreesEmbedding|MLP|SGD|Perceptron$"
    r"|PassiveAggressive|KMeans$|MiniBatchKMeans$|BisectingKMeans$|TSNE$"
    r"|RandomizedSearchCV$|HalvingRandomSearchCV$|ShuffleSplit$|StratifiedShuffleSplit$"
    r"|GroupShuffleSplit$|RepeatedKFold$|RepeatedStratifiedKFold$|GaussianMixture$"
    r"|BayesianGaussianMixture$|SMOTE$|ADASYN$|RandomOverSampler$|RandomUnderSampler$)"
)
_SHUFFLE_SPLITTERS = frozenset({"KFold", "StratifiedKFold", "StratifiedGroupKFold"})
_SKLEARN_RANDOM_FUNCS = frozenset({"shuffle", "resample", "make_classification",
                                   "make_regression", "make_blobs", "make_moons",
                                   "make_circles", "permutation_importance"})
_SEED_KWARGS = frozenset({"random_state", "seed", "random_seed"})
_NUMPY_NOT_RANDOM = frozenset({"seed", "default_rng", "RandomState", "Generator",
                               "SeedSequence", "get_state", "set_state", "PCG64",
                               "MT19937", "Philox", "SFC64", "BitGenerator"})
_STDLIB_RANDOM = frozenset({
    "random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "uniform",
    "gauss", "normalvariate", "lognormvariate", "betavariate", "expovariate",
    "gammavariate", "triangular", "vonmisesvariate", "paretovariate", "weibullvariate",
    "getrandbits", "randbytes", "binomialvariate",
})
_TORCH_RANDOM = frozenset({"rand", "randn", "randint", "randperm", "rand_like",
                           "randn_like", "randint_like", "bernoulli", "multinomial",
                           "normal", "poisson"})
_SEED_HELPERS = frozenset({"seed_everything", "set_seed", "set_random_seed", "seed_all",
                           "set_seeds", "fix_seed"})
_UNSAFE_LOADS = frozenset({
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads",
    "cPickle.load", "cPickle.loads", "dill.load", "dill.loads", "cloudpickle.load",
    "cloudpickle.loads", "joblib.load", "sklearn.externals.joblib.load",
    "pandas.read_pickle", "torch.load", "numpy.load",
})
_OPENERS = frozenset({"open", "io.open", "pathlib.Path", "Path", "gzip.open", "bz2.open",
                      "lzma.open", "os.path.join"})


# -- facts about one module -------------------------------------------------------------
@dataclass
class _Call:
    node: ast.Call
    qualname: str
    scope: int

    @property
    def line(self) -> int:
        return self.node.lineno


@dataclass
class _Assign:
    targets: tuple[str | None, ...]  # names bound, in order; None for non-name elements
    value: ast.expr
    line: int
    scope: int
    calls: frozenset[int] = frozenset()  # ids of the Call nodes inside ``value``


@dataclass
class Module:
    """What the rules need to know about one parsed file."""

    tree: ast.Module
    lines: list[str]
    imports: dict[str, str] = field(default_factory=dict)
    calls: list[_Call] = field(default_factory=list)
    assigns: list[_Assign] = field(default_factory=list)
    _by_scope: dict[int, list[_Assign]] | None = field(default=None, repr=False)

    def qualname(self, node: ast.expr) -> str:
        """The dotted name ``node`` spells, aliases resolved (``''`` if none)."""
        if isinstance(node, ast.Name):
            return self.imports.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}" if base else ""
        return ""

    def imported(self, node: ast.expr) -> bool:
        """True if the root name of the dotted expression ``node`` comes from an import."""
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name) and node.id in self.imports

    def scope_assigns(self, scope: int) -> list[_Assign]:
        """The assignments made directly in ``scope`` (0 is the module body), in order."""
        if self._by_scope is None:
            self._by_scope = {}
            for assign in self.assigns:
                self._by_scope.setdefault(assign.scope, []).append(assign)
        return self._by_scope.get(scope, [])


class _Collector(ast.NodeVisitor):
    """One pass over the tree recording calls and assignments per scope."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.scopes = [0]
        self.next_scope = 1

    def _enter(self, node: ast.AST) -> None:
        self.scopes.append(self.next_scope)
        self.next_scope += 1
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _enter

    def _bind(self, targets: list[ast.expr], value: ast.expr, line: int) -> None:
        names: list[str | None] = []
        for target in targets:
            if isinstance(target, ast.Tuple | ast.List):
                names.extend(e.id if isinstance(e, ast.Name) else None for e in target.elts)
            else:
                names.append(target.id if isinstance(target, ast.Name) else None)
        calls = frozenset(id(n) for n in ast.walk(value) if isinstance(n, ast.Call))
        self.module.assigns.append(_Assign(tuple(names), value, line, self.scopes[-1], calls))

    def visit_Assign(self, node: ast.Assign) -> None:
        # ``a = b = f()`` binds both; a tuple target binds positionally.
        if len(node.targets) == 1:
            self._bind(node.targets, node.value, node.lineno)
        else:
            for target in node.targets:
                self._bind([target], node.value, node.lineno)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._bind([node.target], node.value, node.lineno)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        # ``x += y`` makes x depend on its old value and on y.
        combined = ast.BinOp(left=ast.Name(id=getattr(node.target, "id", "_"), ctx=ast.Load()),
                             op=node.op, right=node.value)
        self._bind([node.target], combined, node.lineno)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind([node.target], node.value, node.lineno)
        self.generic_visit(node)

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._bind([item.optional_vars], item.context_expr, node.lineno)
        self.generic_visit(node)

    visit_AsyncWith = visit_With

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self._bind([node.target], node.iter, node.lineno)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_Call(self, node: ast.Call) -> None:
        self.module.calls.append(_Call(node, self.module.qualname(node.func), self.scopes[-1]))
        self.generic_visit(node)


def parse_module(source: str, filename: str = "<code>") -> Module:
    """Parse ``source`` and collect the facts the rules use.

    Raises:
        SyntaxError: if ``source`` is not valid Python.
    """
    tree = ast.parse(source, filename)
    module = Module(tree=tree, lines=source.splitlines())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    module.imports[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    module.imports[root] = root
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            for alias in node.names:
                if alias.name != "*":
                    module.imports[alias.asname or alias.name] = (
                        f"{base}.{alias.name}" if base else alias.name)
    _Collector(module).visit(tree)
    return module


# -- helpers ----------------------------------------------------------------------------
def _last(qualname: str) -> str:
    return qualname.rsplit(".", 1)[-1]


def _method(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _has_kwargs_splat(call: ast.Call) -> bool:
    return any(kw.arg is None for kw in call.keywords)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _object_names(module: Module) -> frozenset[str]:
    """Names bound to fitted-object constructors (estimators, pipelines), not data."""
    names: set[str] = set()
    for assign in module.assigns:
        if isinstance(assign.value, ast.Call):
            callee = _last(module.qualname(assign.value.func))
            if (callee[:1].isupper() and callee not in _DATA_CLASSES) or \
                    callee in _OBJECT_FACTORIES:
                names.update(t for t in assign.targets if t)
    return frozenset(names)


def _data_names(node: ast.expr | None, module: Module, objects: frozenset[str]) -> set[str]:
    """Variables whose *values* flow into ``node`` (not callees, selectors, constants)."""
    found: set[str] = set()

    def walk(n: ast.AST) -> None:
        if isinstance(n, ast.Name):
            if (n.id not in module.imports and n.id not in objects and n.id not in _BUILTINS
                    and not _CONSTANT.match(n.id)):
                found.add(n.id)
        elif isinstance(n, ast.Call):
            if isinstance(n.func, ast.Attribute):
                walk(n.func.value)  # the receiver: ``df.drop(...)`` reads df
            elif not isinstance(n.func, ast.Name):
                walk(n.func)
            for arg in n.args:
                walk(arg)
        elif isinstance(n, ast.Subscript):
            walk(n.value)  # ``df[cols]`` reads df; cols only selects
        elif not isinstance(n, ast.Lambda | ast.Constant):
            for child in ast.iter_child_nodes(n):
                walk(child)

    if node is not None:
        walk(node)
    return found


def _closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _lineage(module: Module, objects: frozenset[str], scope: int, after: int,
             before: int) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(parents, children) edges of assignments in ``scope`` with after <= line < before."""
    parents: dict[str, set[str]] = {}
    children: dict[str, set[str]] = {}
    for assign in module.scope_assigns(scope):
        if not after <= assign.line < before:
            continue
        sources = _data_names(assign.value, module, objects)
        for target in filter(None, assign.targets):
            parents.setdefault(target, set()).update(sources)
            for source in sources:
                children.setdefault(source, set()).add(target)
    return parents, children


def _fit_data(call: ast.Call) -> list[ast.expr]:
    """The X (and y) arguments of a fit-like call."""
    args = [a for a in call.args[:2] if not isinstance(a, ast.Starred)]
    args += [kw.value for kw in call.keywords if kw.arg in ("X", "x", "y", "Y")]
    return args


def _receiver_class(module: Module, call: _Call) -> str | None:
    """Class name of the object a method is called on, if the code shows it."""
    receiver = call.node.func.value if isinstance(call.node.func, ast.Attribute) else None
    if isinstance(receiver, ast.Call):
        return _last(module.qualname(receiver.func)) or None
    if not isinstance(receiver, ast.Name):
        return None
    found = None
    for scope in (0, call.scope) if call.scope else (0,):
        for assign in module.scope_assigns(scope):
            if (assign.line <= call.line and receiver.id in assign.targets
                    and isinstance(assign.value, ast.Call)):
                found = _last(module.qualname(assign.value.func)) or None
    return found


def _is_preprocessor(name: str | None) -> bool:
    if not name:
        return False
    return name in _PREPROCESSORS or bool(_PREPROCESSOR_SUFFIX.search(name))


def _contains(outer: ast.AST, inner: ast.AST) -> bool:
    return any(node is inner for node in ast.walk(outer))


def looks_like_test_data(name: str) -> bool:
    """True for names such as ``X_test``, ``y_test``, ``test_df``, ``Xtest``, ``holdout``."""
    tokens = re.split(r"[_\d]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower())
    return any(_TEST_TOKEN.match(token) for token in tokens if token)


def _suppressed(module: Module, line: int, rule: str) -> bool:
    text = module.lines[line - 1] if 0 < line <= len(module.lines) else ""
    match = re.search(r"#\s*noqa(?::\s*([A-Za-z0-9, ]+))?", text)
    if not match:
        return False
    codes = match.group(1)
    return codes is None or rule in {c.strip().upper() for c in codes.split(",")}


# -- the rules --------------------------------------------------------------------------
def leakage_before_split(module: Module, filename: str) -> Iterator[Smell]:
    """ML001: a preprocessor fitted on data that is split (or cross-validated) afterwards."""
    objects = _object_names(module)
    splits = [c for c in module.calls if _last(c.qualname) in _SPLITTERS]
    if not splits:
        return
    for fit in module.calls:
        if _method(fit.node) not in _PREPROCESSOR_FITS:
            continue
        cls = _receiver_class(module, fit)
        if not _is_preprocessor(cls):
            continue
        fitted = set().union(*(_data_names(a, module, objects) for a in _fit_data(fit.node)[:1]))
        if not fitted:
            continue
        outputs = {t for a in module.scope_assigns(fit.scope) if id(fit.node) in a.calls
                   for t in a.targets if t}
        for split in splits:
            if split.scope != fit.scope:
                continue
            nested = _contains(split.node, fit.node)
            if not (fit.line < split.line or nested):
                continue
            first = _SPLITTERS[_last(split.qualname)]
            split_args = [a for a in split.node.args[first:]]
            split_args += [kw.value for kw in split.node.keywords if kw.arg in ("X", "y")]
            split_data = set().union(*(_data_names(a, module, objects) for a in split_args))
            parents, _ = _lineage(module, objects, split.scope, 0, split.line)
            _, children = _lineage(module, objects, fit.scope, fit.line, split.line)
            fit_parents, _ = _lineage(module, objects, fit.scope, 0, fit.line)
            derived = _closure(fitted | outputs, children)
            sources = _closure(split_data, parents)
            if nested or derived & sources or _closure(fitted, fit_parents) & split_data:
                what = ", ".join(sorted(fitted))
                yield Smell(
                    "ML001",
                    f"{cls}.{_method(fit.node)}({what}) at line {fit.line} runs before "
                    f"{_last(split.qualname)} at line {split.line} splits that data: statistics "
                    "of the test rows leak into training. Fit preprocessing on the training "
                    "split only (e.g. in a Pipeline fitted after the split).",
                    filename, fit.line, fit.node.col_offset,
                )
                break


def fit_on_test_data(module: Module, filename: str) -> Iterator[Smell]:
    """ML002: ``fit`` given test data (test-looking names or the split's test outputs)."""
    objects = _object_names(module)
    tested: dict[int, set[str]] = {}
    for assign in sorted(module.assigns, key=lambda a: a.line):
        names = tested.setdefault(assign.scope, set())
        value = assign.value
        if isinstance(value, ast.Call) and _last(module.qualname(value.func)) == \
                "train_test_split" and len(assign.targets) > 1:
            names.update(t for t in assign.targets[1::2] if t)
            continue
        sources = _data_names(value, module, objects)
        if sources and all(s in names or looks_like_test_data(s) for s in sources):
            names.update(t for t in assign.targets if t)
    for fit in module.calls:
        method = _method(fit.node)
        if method not in _FIT_METHODS:
            continue
        names = tested.get(fit.scope, set())
        for arg in _fit_data(fit.node):
            data = _data_names(arg, module, objects)
            if data and all(n in names or looks_like_test_data(n) for n in data):
                yield Smell(
                    "ML002",
                    f".{method}() is given test data "
                    f"({', '.join(sorted(data))}): the evaluation is no longer on unseen data. "
                    "Fit on the training split; only transform/predict/score the test split.",
                    filename, fit.line, fit.node.col_offset,
                )
                break


def missing_seed(module: Module, filename: str) -> Iterator[Smell]:
    """ML003: random draws, splits and randomised estimators that nobody seeded."""
    seeded: set[str] = set()
    for call in module.calls:
        name, last = call.qualname, _last(call.qualname)
        if not call.node.args and not call.node.keywords:
            continue  # ``np.random.seed()`` re-seeds from the OS: not a seed
        if name in ("numpy.random.seed",):
            seeded.add("numpy")
        elif name == "random.seed" and module.imported(call.node.func):
            seeded.add("random")
        elif name.startswith("torch.") and last in ("manual_seed", "manual_seed_all"):
            seeded.add("torch")
        elif last in _SEED_HELPERS:
            seeded.update(("numpy", "random", "torch"))

    def unseeded(call: ast.Call) -> bool:
        if _has_kwargs_splat(call):
            return False  # ``Model(**params)``: cannot tell
        values = [kw.value for kw in call.keywords if kw.arg in _SEED_KWARGS]
        return not values or all(_is_none(v) for v in values)

    for call in module.calls:
        name, last, node = call.qualname, _last(call.qualname), call.node
        why = None
        if last == "train_test_split":
            shuffle = _keyword(node, "shuffle")
            no_shuffle = isinstance(shuffle, ast.Constant) and shuffle.value is False
            if not no_shuffle and unseeded(node) and "numpy" not in seeded:
                why = "train_test_split without random_state"
        elif last in _SHUFFLE_SPLITTERS:
            if _is_true(_keyword(node, "shuffle")) and unseeded(node) and "numpy" not in seeded:
                why = f"{last}(shuffle=True) without random_state"
        elif _RANDOM_ESTIMATOR.match(last) and last[:1].isupper():
            if unseeded(node) and "numpy" not in seeded:
                why = f"{last} without random_state"
        elif last in _SKLEARN_RANDOM_FUNCS and name.startswith("sklearn."):
            if unseeded(node) and "numpy" not in seeded:
                why = f"{last} without random_state"
        elif name in ("numpy.random.default_rng", "numpy.random.RandomState") or (
                name == "random.Random" and module.imported(node.func)):
            if not node.args and unseeded(node):
                why = f"{last}() without a seed"
        elif name.startswith("numpy.random.") and module.imported(node.func):
            if last not in _NUMPY_NOT_RANDOM and "numpy" not in seeded:
                why = f"np.random.{last} with no np.random.seed in the file"
        elif name.startswith("random.") and name.count(".") == 1 and \
                module.imported(node.func) and last in _STDLIB_RANDOM:
            if "random" not in seeded:
                why = f"random.{last} with no random.seed in the file"
        elif name.startswith("torch.") and name.count(".") == 1 and last in _TORCH_RANDOM:
            if "torch" not in seeded and not _keyword(node, "generator"):
                why = f"torch.{last} with no torch.manual_seed in the file"
        if why:
            yield Smell("ML003", f"{why}: results are not reproducible. "
                        "Pass random_state=<int> or seed the generator once at the top.",
                        filename, call.line, node.col_offset)


def _literal_source(node: ast.expr | None, module: Module, literal_names: set[str]) -> bool:
    """True if ``node`` is a constant path/bytes, or built only from constants."""
    if node is None:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.Name):
        return node.id in literal_names or node.id == "__file__"
    if isinstance(node, ast.Attribute):  # ``Path(__file__).parent``
        return _literal_source(node.value, module, literal_names)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div | ast.Add):
        return (_literal_source(node.left, module, literal_names)
                and _literal_source(node.right, module, literal_names))
    if isinstance(node, ast.Call):
        callee = module.qualname(node.func)
        if callee in _OPENERS or _last(callee) == "Path":
            return bool(node.args) and all(
                _literal_source(a, module, literal_names) for a in node.args[:1])
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("read", "read_bytes",
                                                                       "open"):
            return _literal_source(node.func.value, module, literal_names)
    return False


def unsafe_deserialisation(module: Module, filename: str) -> Iterator[Smell]:
    """ML004: pickle-family loads from a path or payload that is not a literal."""
    literal_names: set[str] = set()
    bound: dict[str, list[ast.expr]] = {}
    for assign in module.assigns:
        for target in filter(None, assign.targets):
            bound.setdefault(target, []).append(assign.value)
    changed = True
    while changed:  # a name is literal when every value bound to it is
        changed = False
        for name, values in bound.items():
            if name not in literal_names and all(
                    _literal_source(v, module, literal_names) for v in values):
                literal_names.add(name)
                changed = True
    for call in module.calls:
        name, node = call.qualname, call.node
        if name not in _UNSAFE_LOADS:
            continue
        if name == "torch.load" and _is_true(_keyword(node, "weights_only")):
            continue
        if name == "numpy.load" and not _is_true(_keyword(node, "allow_pickle")):
            continue
        source = node.args[0] if node.args else (
            _keyword(node, "file") or _keyword(node, "f") or _keyword(node, "filename")
            or _keyword(node, "filepath_or_buffer") or _keyword(node, "data"))
        if _literal_source(source, module, literal_names):
            continue
        advice = ("pass weights_only=True" if name == "torch.load" else
                  "load models with skops or verify the file's sha256 before loading")
        yield Smell("ML004", f"{name} deserialises from a non-literal "
                    f"source: an untrusted file can run arbitrary code; {advice}.",
                    filename, call.line, node.col_offset)


SMELLS: tuple[Callable[[Module, str], Iterator[Smell]], ...] = (
    leakage_before_split, fit_on_test_data, missing_seed, unsafe_deserialisation,
)


def find_smells(source: str, filename: str) -> list[Smell]:
    """Every ML smell in ``source`` (named ``filename`` in findings), sorted by line.

    A file that does not parse gives one ``ML000`` finding.
    """
    try:
        module = parse_module(source, filename)
    except SyntaxError as exc:
        return [Smell("ML000", f"could not parse: {exc.msg}", filename, exc.lineno or 1,
                      max((exc.offset or 1) - 1, 0))]
    except (ValueError, RecursionError) as exc:  # NUL bytes; absurdly deep nesting
        return [Smell("ML000", f"could not parse: {exc}", filename, 1)]
    try:
        found = {(s.rule, s.line, s.column): s for rule in SMELLS
                 for s in rule(module, filename) if not _suppressed(module, s.line, s.rule)}
    except RecursionError:
        return [Smell("ML000", "expressions too deeply nested to analyse", filename, 1)]
    return sorted(found.values(), key=lambda s: (s.line, s.column, s.rule))
