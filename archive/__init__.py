"""ChartVault archive core: the package every other one stands on."""
