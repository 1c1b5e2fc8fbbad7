/**
 * `@encdec/cli`: the `encdec` command line and `pipeline()`, assembled from the other packages.
 *
 * @module
 */
export {};
