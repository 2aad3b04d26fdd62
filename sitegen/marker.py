"""The file every `sitegen build` writes into its output folders (the site and, with
--weights-url, the weights folder): it marks a folder that a later build may replace, that
`sitegen deploy` may publish and that `sitegen serve` may serve."""

MARKER = ".sitegen-site"
