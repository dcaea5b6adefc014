# He et al. 2016, Table 6: 0.27M / 0.46M / 0.66M / 0.85M / 1.7M (option A shortcuts; exact counts
# at 10 classes match the published CIFAR zoos built the same way, e.g. akamaster/pytorch_resnet_cifar10)
SRC = "He et al. 2016 Table 6 (option A), exact count as in akamaster/pytorch_resnet_cifar10"
PARAMS = {
    "resnet20": (269_722, SRC),
    "resnet32": (464_154, SRC),
    "resnet44": (658_586, SRC),
    "resnet56": (853_018, SRC),
    "resnet110": (1_727_962, SRC),
}
