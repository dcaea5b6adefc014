# Parameter counts of the `classic` group at num_classes=10.  "exact" means the number is printed
# or computable to the unit from the cited source; the others say which published figure they round to.
DOC004 = "document 004 exact count (kuangliu/pytorch-cifar)"
KUANGLIU = "kuangliu/pytorch-cifar implementation, exact"
DENSE_PAPER = "Huang et al. 2017 Table 2 (DenseNet-BC, CIFAR)"
VGG_OWN = "this project's own: kuangliu VGG (conv+bias, Linear(512)) without its BN layers"
PARAMS = {
    # DenseNet: kuangliu CIFAR layout (stem 2k, 4 blocks, compression 0.5)
    "densenet121": (6_956_298, KUANGLIU + " (DenseNet121, k=32)"),
    "densenet121_k12": (1_000_618, KUANGLIU + " (DenseNet with [6,12,24,16], k=12; document 004 row)"),
    "densenet121_k16": (1_762_954, KUANGLIU + " (DenseNet with [6,12,24,16], k=16; document 004 row)"),
    "densenet121_k24": (3_930_826, KUANGLIU + " (DenseNet with [6,12,24,16], k=24; document 004 row)"),
    "densenet169": (12_493_322, KUANGLIU + " (DenseNet169)"),
    "densenet201": (18_104_330, KUANGLIU + " (DenseNet201; weiaicunzai lists 18M)"),
    "densenet161": (26_482_378, KUANGLIU + " (DenseNet161; weiaicunzai lists 26M)"),
    "densenet_bc100_k12": (769_162, DENSE_PAPER + ": 0.8M"),
    "densenet_bc250_k24": (15_324_406, DENSE_PAPER + ": 15.3M"),
    "densenet_bc190_k40": (25_624_430, DENSE_PAPER + ": 25.6M"),
    # VGG with the single Linear(512, classes) head
    "vgg11_bn": (9_231_114, KUANGLIU + " (VGG('VGG11'))"),
    "vgg13_bn": (9_416_010, KUANGLIU + " (VGG('VGG13'))"),
    "vgg16_bn": (14_728_266, KUANGLIU + " (VGG('VGG16'), 14.7M)"),
    "vgg19_bn": (20_040_522, KUANGLIU + " (VGG('VGG19'))"),
    "vgg11": (9_225_610, VGG_OWN),
    "vgg13": (9_410_122, VGG_OWN),
    "vgg16": (14_719_818, VGG_OWN),
    "vgg19": (20_029_514, VGG_OWN),
    "lenet": (62_006, DOC004),
    "alexnet": (23_272_266, "this project's own, from the icpm/pytorch-cifar10 32x32 AlexNet layer table"),
    "googlenet": (6_166_250, DOC004),
    "inception_v3": (21_806_058, "this project's own; = weiaicunzai/pytorch-cifar100 inceptionv3 (22.3M at 100 "
                                 "classes) minus 327,680 for the paper's 1x1 (not 3x3) pool projection in module A"),
    "inception_v4": (41_158_186, "weiaicunzai/pytorch-cifar100 inceptionv4 layer table (41.3M at 100 classes)"),
    "inception_resnet_v2": (30_310_378, "this project's own: paper Figs. 15-19 with identity shortcuts "
                                        "(weiaicunzai's 65.4M variant adds shortcut convs)"),
    "squeezenet": (734_986, "weiaicunzai/pytorch-cifar100 squeezenet layer table (0.78M at 100 classes)"),
    "dla": (16_291_386, DOC004),
    "dpn26": (11_574_842, DOC004),
    "dpn92": (34_236_634, DOC004),
    "regnetx_200mf": (2_321_946, DOC004),
    "regnetx_400mf": (4_779_338, KUANGLIU + " (RegNetX_400MF)"),
    "regnety_400mf": (5_714_362, KUANGLIU + " (RegNetY_400MF)"),
}
