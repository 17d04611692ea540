/** Stylesheets are imported for esbuild, which bundles them into the console's CSS asset. */
declare module '*.css'
