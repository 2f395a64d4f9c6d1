// @ts-check
// typescript-eslint's type-checked strict preset over everything (issue 11, "soft gates"):
// the application, migrations and benchmarks with the build's tsconfig, the tests with theirs.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const tsconfigRootDir = import.meta.dirname;

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'test-output/', 'coverage/', 'examples/**/node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    // The application, its migrations and the benchmarks are type-checked with the build's tsconfig.
    files: ['src/**/*.ts', 'migrations/**/*.ts', 'bench/**/*.ts'],
    languageOptions: { parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir } },
  },
  {
    // The tests (and the sources they import) with the test tsconfig (bundler resolution, DOM for the browser tests).
    files: ['test/**/*.ts'],
    languageOptions: { parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir } },
  },
  {
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // `() => res.end()` and `return next()` in a function that returns nothing use no void value; the rule still
      // catches a void result used as a value (assigned, passed, compared).
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true }],
      // A number has one unambiguous text form; everything else (null, undefined, objects) must be made a string explicitly.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowAny: false, allowBoolean: false, allowNullish: false, allowRegExp: false, allowNever: false, allowArray: false },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  {
    files: ['src/cli/**/*.ts', 'bench/**', 'examples/**', 'bin/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Plain JavaScript (bin/, scripts/, examples/) and the config files are in no tsconfig: non-type-checked rules only.
    files: ['**/*.js', '**/*.cjs', '**/*.mjs', '**/*.mts'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly', __dirname: 'readonly', fetch: 'readonly', URL: 'readonly', URLSearchParams: 'readonly' } },
  },
);
