"""The public API is typed and documented: every public function, method and property in
``PUBLIC`` has annotations for all its parameters and its return, and a numpydoc docstring with
a ``Parameters`` section (naming every parameter) and a ``Returns`` section where it has them."""
import importlib
import inspect
import re

import pytest

# "module:qualified name" of everything checked.  An ``__init__`` is documented in its class's
# docstring (numpydoc's convention); a property needs a return annotation and a summary line.
PUBLIC = [
    "fastbp.network:NeuralNetwork.__init__",
    "fastbp.network:NeuralNetwork.weights",
    "fastbp.network:NeuralNetwork.biases",
    "fastbp.network:NeuralNetwork.n_outputs",
    "fastbp.network:NeuralNetwork.forward",
    "fastbp.network:NeuralNetwork.backward",
    "fastbp.network:NeuralNetwork.gradients",
    "fastbp.network:NeuralNetwork.loss",
    "fastbp.network:NeuralNetwork.score",
    "fastbp.network:NeuralNetwork.predict_proba",
    "fastbp.network:NeuralNetwork.predict",
    "fastbp.network:NeuralNetwork.save",
    "fastbp.network:NeuralNetwork.load",
    "fastbp.network:NeuralNetwork.model_state",
    "fastbp.network:NeuralNetwork.from_model_state",
    "fastbp.network:NeuralNetwork.fit",
    "fastbp.network:NeuralNetwork.reset_optimizer",
    "fastbp.network:ParameterList.assign_all",
    "fastbp.network:network_layout",
    "fastbp.gradcheck:gradient_check",
    "fastbp.gradcheck:GradientCheckResult.table",
    "fastbp.gradcheck:ParameterCheck.max_rel_error",
    "fastbp.gradcheck:relative_error",
    "fastbp.threadctl:max_threads",
    "fastbp.threadctl:get_num_threads",
    "fastbp.threadctl:set_num_threads",
    "fastbp.threadctl:threads",
    "fastbp.threadctl:thread_report",
    "fastbp.threadctl:load_every_blas",
    "fastbp.threadctl:one_blas_thread",
    "fastbp.datasets:make_circle",
    "fastbp.datasets:make_spirals",
    "fastbp.tutorial:binary_cross_entropy",
    "fastbp.tutorial:bce_derivative",
    "fastbp.tutorial:sigmoid",
    "fastbp.tutorial:sigmoid_derivative",
    "fastbp.tutorial:relu",
    "fastbp.tutorial:relu_derivative",
    "fastbp.tutorial:train_network",
    "fastbp.sklearn:MLPClassifier.__init__",
    "fastbp.sklearn:MLPClassifier.fit",
    "fastbp.sklearn:MLPClassifier.partial_fit",
    "fastbp.sklearn:MLPClassifier.predict",
    "fastbp.sklearn:MLPClassifier.predict_proba",
    "fastbp.sklearn:MLPClassifier.predict_log_proba",
    "fastbp.sklearn:MLPClassifier.save",
    "fastbp.sklearn:MLPClassifier.load",
    "fastbp.sklearn:MLPClassifier.coefs_",
    "fastbp.sklearn:MLPClassifier.intercepts_",
    "fastbp.sklearn:MLPClassifier.n_layers_",
    "fastbp.sklearn:MLPClassifier.n_outputs_",
    "fastbp.sklearn:MLPClassifier.out_activation_",
    "fastbp.sklearn:MLPRegressor.__init__",
    "fastbp.sklearn:MLPRegressor.fit",
    "fastbp.sklearn:MLPRegressor.partial_fit",
    "fastbp.sklearn:MLPRegressor.predict",
    "fastbp.sklearn:fit_keywords",
    "fastbp.sklearn:initial_parameters",
    "fastbp.sklearn:invscaling_rates",
    "fastbp.sklearn:GridSearchCV.fit",
    "fastbp.sweep:fit_many",
    "fastbp.network:NeuralNetwork.free_workspaces",
]


def resolve(spec):
    """(object, owning class or None) for "module:qualified.name"; a property stays a property."""
    module_name, qualname = spec.split(":")
    if module_name == "fastbp.sklearn":
        pytest.importorskip("sklearn")
    owner, obj = None, importlib.import_module(module_name)
    for name in qualname.split("."):
        static = inspect.getattr_static(obj, name)
        owner, obj = obj, static if isinstance(static, property) else getattr(obj, name)
    return obj, owner if inspect.isclass(owner) else None


def own_parameters(function):
    """The signature's parameters without ``self``/``cls``."""
    parameters = list(inspect.signature(function).parameters.values())
    if parameters and parameters[0].name in ("self", "cls"):
        parameters = parameters[1:]
    return parameters


def returns_none(function):
    return inspect.signature(function).return_annotation in (None, "None")


def section(doc, title):
    """The body of numpydoc section ``title`` of a cleaned docstring, or None if it has none."""
    match = re.search(rf"^{title}\n-{{3,}}\n(.*?)(?=^\w[\w ]*\n-{{3,}}\n|\Z)", doc, re.M | re.S)
    return None if match is None else match.group(1)


def documented_names(body):
    """The names the entries of a Parameters section give (``beta_1, beta_2 : float`` gives two)."""
    names = set()
    for line in body.splitlines():
        entry = re.match(r"^(\*{0,2}\w+(?:, \*{0,2}\w+)*)(?: :|$)", line)
        if entry:
            names.update(name.lstrip("*") for name in entry.group(1).split(", "))
    return names


def test_the_table_names_each_object_once():
    assert len(PUBLIC) == len(set(PUBLIC))


@pytest.mark.parametrize("spec", PUBLIC)
def test_annotated(spec):
    obj, _ = resolve(spec)
    if isinstance(obj, property):
        assert inspect.signature(obj.fget).return_annotation is not inspect.Signature.empty, \
            f"{spec}: the property's getter has no return annotation"
        if obj.fset is not None:
            assert all(p.annotation is not inspect.Parameter.empty
                       for p in own_parameters(obj.fset)), f"{spec}: the setter's value has no annotation"
        return
    missing = [p.name for p in own_parameters(obj) if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{spec}: parameters without annotations: {missing}"
    assert inspect.signature(obj).return_annotation is not inspect.Signature.empty, \
        f"{spec}: no return annotation"


@pytest.mark.parametrize("spec", PUBLIC)
def test_documented(spec):
    obj, owner = resolve(spec)
    if isinstance(obj, property):
        assert obj.__doc__ and obj.__doc__.strip(), f"{spec}: the property has no docstring"
        return
    doc = owner.__doc__ if obj.__name__ == "__init__" else obj.__doc__
    assert doc and doc.strip(), f"{spec}: no docstring"
    doc = inspect.cleandoc(doc)
    parameters = own_parameters(obj)
    if parameters:
        body = section(doc, "Parameters")
        assert body is not None, f"{spec}: no Parameters section"
        undocumented = {p.name for p in parameters} - documented_names(body)
        assert not undocumented, f"{spec}: parameters missing from its Parameters section: " \
                                 f"{sorted(undocumented)}"
    if not returns_none(obj):
        body = section(doc, "Returns")
        assert body is not None and body.strip(), f"{spec}: no Returns section"
