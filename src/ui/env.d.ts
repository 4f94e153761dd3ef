// Stylesheets imported for their side effect: Bun's bundler writes them into the CSS output.
declare module "*.css";
