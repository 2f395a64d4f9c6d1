// The benchmarks use the tests' must(): a value that has to be there, or a failure naming it.
export { must } from '../../test/helpers/must';
