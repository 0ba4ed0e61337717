"""Task `example-count`: `run example-count FILE --out OUT.json` writes the point count and centroid."""
import json

from scenelens.engine.tasks import Task


def _args(p):
    p.add_argument("input")
    p.add_argument("--out", required=True)


def _run(args):
    from scenelens.engine.io import load
    from scenelens.engine.scene import PointCloud

    pc = load(args.input).of_type(PointCloud)[0]
    res = {"points": pc.n, "centroid": pc.points.mean(0).tolist()}
    with open(args.out, "w") as f:
        json.dump(res, f)
    print(json.dumps(res))
    return 0


TASK = Task("example-count", "count the points of a cloud (example plug-in)", _args, _run)
