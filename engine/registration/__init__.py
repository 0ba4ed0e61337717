"""Training-free point-cloud registration (FPFH → matching → SC²-PCR → ICP), written in torch so the same
code runs on CPU and CUDA, with every stage exposed so the workbench can show why a pair succeeds or fails.

Facts and defaults follow `../shared/specs/registration.md`; `pipeline.py` ties the stages into one Job.
"""
