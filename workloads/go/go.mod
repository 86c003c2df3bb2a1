module testbed-twins

go 1.27
